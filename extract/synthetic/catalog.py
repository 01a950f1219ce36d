"""The synthetic music catalog: artists with one genre each, their tracks and albums.

Besides the public frames, the catalog keeps the latent quantities the listening simulation
needs: how popular a track is (its weight when a listener discovers music) and how catchy
it is (how likely a listener who discovers it comes back to it). Catchiness is partly
readable from the audio features (danceable, happy, short tracks are catchier), partly an
artist trait, partly hidden, so a model has something to learn beyond a track's history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from faker import Faker

from extract.synthetic.model import (
    ARTISTS_SCHEMA,
    TRACKS_SCHEMA,
    stream_faker_seed,
    stream_rng,
)
from extract.synthetic.profiles import GENRE_PROFILES, GENRES

TRACKS_PER_ARTIST = 8
# Releases happen up to this day; a fixed date keeps the catalog independent of the window.
LATEST_RELEASE_DATE = dt.date(2026, 11, 1)
EARLIEST_RELEASE_DATE = dt.date(1955, 1, 1)
MIN_DURATION_MS = 60_000
MAX_DURATION_MS = 900_000
NEW_ALBUM_CHANCE = 1 / 9  # each next track of an artist starts a new album with this chance
BASE62_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SPOTIFY_ID_LENGTH = 22

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Catalog:
    """Artists and tracks as frames, plus per-track latents indexed like `tracks` rows."""

    artists: pl.DataFrame
    tracks: pl.DataFrame
    artist_genre: np.ndarray  # genre index per artist
    artist_log_popularity: np.ndarray
    track_artist: np.ndarray  # artist index per track
    track_genre: np.ndarray  # genre index per track
    track_log_popularity: np.ndarray  # log of the weight of being discovered
    track_catchiness: np.ndarray  # standardised latent; drives replays
    track_duration_ms: np.ndarray
    track_released_day: np.ndarray  # days since 1970-01-01

    @property
    def n_artists(self) -> int:
        return len(self.artist_genre)

    @property
    def n_tracks(self) -> int:
        return len(self.track_artist)


def build_catalog(seed: int, n_tracks: int) -> Catalog:
    """Draw the catalog for `seed`; it depends on nothing but the seed and its size."""
    rng = stream_rng(seed, "catalog")
    faker = Faker("en_US")
    faker.seed_instance(stream_faker_seed(seed, "catalog_names"))

    n_artists = max(1, round(n_tracks / TRACKS_PER_ARTIST))
    genre_popularity = np.array([GENRE_PROFILES[g].popularity for g in GENRES])
    artist_genre = rng.choice(len(GENRES), size=n_artists, p=_normalised(genre_popularity**0.7))
    artist_log_popularity = rng.normal(0.0, 1.6, size=n_artists)
    artist_catchiness = rng.normal(0.0, 0.55, size=n_artists)
    artist_career_days = _artist_career_days(rng, artist_genre)

    track_artist, rank_in_artist = _assign_tracks_to_artists(rng, n_tracks, artist_log_popularity)
    track_genre = artist_genre[track_artist]
    features = _audio_features(rng, track_artist, artist_genre)
    album_of_track, album_artist = _albums(rng, track_artist)
    album_released_day = _album_release_days(rng, artist_career_days[album_artist])
    released_day = album_released_day[album_of_track]

    catchiness = _catchiness(rng, features, track_genre, artist_catchiness[track_artist])
    log_popularity = (
        artist_log_popularity[track_artist]
        + 0.3 * np.log(genre_popularity[track_genre])
        - 1.0 * np.log(rank_in_artist)
        + rng.normal(0.0, 0.7, size=n_tracks)
        + 0.35 * catchiness
    )

    artist_ids = base62_ids(rng, n_artists)
    track_ids = base62_ids(rng, n_tracks)
    artists = pl.DataFrame(
        {
            "artist_id": artist_ids,
            "artist_name": _artist_names(faker, artist_genre),
            "genre": [GENRES[g] for g in artist_genre],
        },
        schema=ARTISTS_SCHEMA,
    )
    tracks = _tracks_frame(
        faker,
        features,
        track_ids,
        artist_ids,
        track_artist,
        track_genre,
        album_of_track,
        released_day,
    )
    return Catalog(
        artists=artists,
        tracks=tracks,
        artist_genre=artist_genre,
        artist_log_popularity=artist_log_popularity,
        track_artist=track_artist,
        track_genre=track_genre,
        track_log_popularity=log_popularity,
        track_catchiness=catchiness,
        track_duration_ms=features["duration_ms"],
        track_released_day=released_day,
    )


def base62_ids(rng: np.random.Generator, n: int, length: int = SPOTIFY_ID_LENGTH) -> list[str]:
    """`n` distinct random base62 strings shaped like Spotify ids (22 characters)."""
    alphabet = np.frombuffer(BASE62_ALPHABET, dtype=np.uint8)
    while True:
        codes = np.ascontiguousarray(alphabet[rng.integers(0, 62, size=(n, length))])
        ids = codes.view(f"S{length}").ravel().astype(str).tolist()
        if len(set(ids)) == n:  # a collision is astronomically rare; redraw rather than hope
            return ids


def _normalised(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    p = min(max(p, 0.005), 0.995)
    return float(np.log(p / (1.0 - p)))


def _artist_career_days(rng: np.random.Generator, artist_genre: np.ndarray) -> np.ndarray:
    """How long ago each artist started releasing: old genres have old catalogs."""
    mean_years = np.array([GENRE_PROFILES[g].catalog_age_years for g in GENRES])[artist_genre]
    return 60.0 + rng.exponential(mean_years * 365.25)


def _assign_tracks_to_artists(
    rng: np.random.Generator, n_tracks: int, artist_log_popularity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Artist index per track (grouped by artist) and the track's 1-based hit rank in it.

    Every artist gets at least one track; popular artists tend to have bigger catalogs.
    The rank is random within the artist: rank 1 is the artist's hit.
    """
    n_artists = len(artist_log_popularity)
    size_weight = np.exp(0.5 * artist_log_popularity + rng.normal(0.0, 0.4, size=n_artists))
    extra = rng.multinomial(n_tracks - n_artists, _normalised(size_weight))
    counts = 1 + extra
    track_artist = np.repeat(np.arange(n_artists), counts)
    starts = np.cumsum(counts) - counts
    position = np.arange(n_tracks) - np.repeat(starts, counts)
    # A random permutation of 1..count inside each artist: sort by (artist, random key).
    order = np.lexsort((rng.random(n_tracks), track_artist))
    rank = np.empty(n_tracks, dtype=np.int64)
    rank[order] = position + 1
    return track_artist, rank


def _albums(rng: np.random.Generator, track_artist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Album index per track and artist index per album: an artist's tracks in album runs."""
    first_of_artist = np.r_[True, track_artist[1:] != track_artist[:-1]]
    starts_album = first_of_artist | (rng.random(len(track_artist)) < NEW_ALBUM_CHANCE)
    album_of_track = np.cumsum(starts_album) - 1
    return album_of_track, track_artist[starts_album]


def _album_release_days(rng: np.random.Generator, career_days: np.ndarray) -> np.ndarray:
    """Release day (days since 1970) per album, spread over the career, biased to recent."""
    latest = (LATEST_RELEASE_DATE - _EPOCH).days
    earliest = (EARLIEST_RELEASE_DATE - _EPOCH).days
    age_days = career_days * rng.random(len(career_days)) ** 1.15
    return np.maximum(latest - np.floor(age_days).astype(np.int64), earliest)


def _audio_features(
    rng: np.random.Generator, track_artist: np.ndarray, artist_genre: np.ndarray
) -> dict[str, np.ndarray]:
    """Spotify-like audio features from genre profiles, with a per-artist sound.

    The 0..1 features live in logit space: genre mean + artist offset + track noise, so
    metal stays loud and energetic and classical acoustic and instrumental, while artists
    within a genre still differ.
    """
    n_tracks = len(track_artist)
    n_artists = len(artist_genre)
    genre = artist_genre[track_artist]
    profiles = [GENRE_PROFILES[g] for g in GENRES]

    def unit_feature(name: str, artist_spread: float, track_spread: float) -> np.ndarray:
        genre_logit = np.array([_logit(getattr(p, name)) for p in profiles])
        artist_offset = rng.normal(0.0, artist_spread, size=n_artists)
        value = _sigmoid(
            genre_logit[genre]
            + artist_offset[track_artist]
            + rng.normal(0.0, track_spread, size=n_tracks)
        )
        return np.round(value, 3)

    features = {
        "danceability": unit_feature("danceability", 0.35, 0.45),
        "energy": unit_feature("energy", 0.35, 0.45),
        "valence": unit_feature("valence", 0.40, 0.60),
        "acousticness": unit_feature("acousticness", 0.50, 0.70),
        "instrumentalness": unit_feature("instrumentalness", 0.80, 1.20),
        "speechiness": unit_feature("speechiness", 0.30, 0.50),
    }
    is_live = rng.random(n_tracks) < 0.07
    features["liveness"] = np.round(
        _sigmoid(np.where(is_live, _logit(0.8), _logit(0.12)) + rng.normal(0, 0.6, n_tracks)), 3
    )

    genre_tempo = np.array([p.tempo_bpm for p in profiles])
    artist_tempo = rng.normal(0.0, 8.0, size=n_artists)
    tempo = genre_tempo[genre] + artist_tempo[track_artist] + rng.normal(0.0, 12.0, n_tracks)
    features["tempo"] = np.round(np.clip(tempo, 60.0, 200.0), 3)

    genre_loudness = np.array([p.loudness_db for p in profiles])
    genre_energy = np.array([p.energy for p in profiles])
    artist_loudness = rng.normal(0.0, 1.5, size=n_artists)
    loudness = (
        genre_loudness[genre]
        + 8.0 * (features["energy"] - genre_energy[genre])
        + artist_loudness[track_artist]
        + rng.normal(0.0, 1.8, n_tracks)
    )
    features["loudness"] = np.round(np.clip(loudness, -30.0, -0.5), 3)

    genre_log_duration = np.log(np.array([p.duration_minutes for p in profiles]) * 60_000)
    artist_duration = rng.normal(0.0, 0.12, size=n_artists)
    duration = np.exp(
        genre_log_duration[genre] + artist_duration[track_artist] + rng.normal(0, 0.22, n_tracks)
    )
    features["duration_ms"] = np.clip(duration, MIN_DURATION_MS, MAX_DURATION_MS).astype(np.int64)

    genre_explicit = np.array([_logit(p.explicit_share) for p in profiles])
    artist_explicit = rng.normal(0.0, 1.5, size=n_artists)
    explicit_chance = _sigmoid(genre_explicit[genre] + artist_explicit[track_artist])
    features["explicit"] = rng.random(n_tracks) < explicit_chance
    return features


def _standardised(x: np.ndarray) -> np.ndarray:
    spread = x.std()
    return (x - x.mean()) / spread if spread > 0 else np.zeros_like(x, dtype=np.float64)


def _catchiness(
    rng: np.random.Generator,
    features: dict[str, np.ndarray],
    track_genre: np.ndarray,
    artist_catchiness: np.ndarray,
) -> np.ndarray:
    """How replayable each track is (mean 0, sd 1).

    About a third of it is visible in the audio features (danceable, happy, energetic,
    short), some is the genre and the artist, the rest is hidden and only shows up in how
    listeners treat the track.
    """
    genre_bias = np.array([GENRE_PROFILES[g].replay_bias for g in GENRES])
    visible = (
        0.45 * _standardised(features["danceability"])
        + 0.30 * _standardised(features["valence"])
        + 0.15 * _standardised(features["energy"])
        - 0.30 * _standardised(np.log(features["duration_ms"]))
    )
    latent = visible + genre_bias[track_genre] + artist_catchiness
    return _standardised(latent + rng.normal(0.0, 0.7, size=len(track_genre)))


def _title(words: list[str]) -> str:
    return " ".join(word.capitalize() for word in words)


def _artist_names(faker: Faker, artist_genre: np.ndarray) -> list[str]:
    """Band-, person- and DJ-like names; the flavour follows the genre."""
    electronic = {GENRES.index(g) for g in ("electronic", "techno", "house")}
    ensembles = {GENRES.index(g) for g in ("jazz", "classical")}
    rappers = {GENRES.index("hip-hop")}
    names = []
    for genre in artist_genre.tolist():
        style = faker.random_int(0, 9)
        if genre in electronic and style < 4:
            name = f"DJ {faker.word().capitalize()}"
        elif genre in ensembles and style < 4:
            ensemble = faker.random_element(("Trio", "Quartet", "Ensemble", "Orchestra"))
            name = f"The {faker.last_name()} {ensemble}"
        elif genre in rappers and style < 4:
            name = f"{faker.random_element(('Lil', 'MC', 'Young', 'Big'))} {faker.first_name()}"
        elif style < 4:
            name = faker.name()
        elif style < 7:
            name = f"The {faker.word().capitalize()}s"
        else:
            name = _title(faker.words(faker.random_int(1, 2)))
        names.append(name)
    return names


def _track_names(faker: Faker, liveness: np.ndarray) -> list[str]:
    """Short title-case phrases; very live-sounding tracks are marked as live recordings."""
    names = []
    for live in (liveness > 0.8).tolist():
        name = _title(faker.words(faker.random_int(1, 4)))
        if live:
            name += " - Live"
        elif faker.random_int(0, 24) == 0:
            name += " - Remastered"
        names.append(name)
    return names


def _album_names(faker: Faker, n_albums: int) -> list[str]:
    return [_title(faker.words(faker.random_int(1, 3))) for _ in range(n_albums)]


def _tracks_frame(
    faker: Faker,
    features: dict[str, np.ndarray],
    track_ids: list[str],
    artist_ids: list[str],
    track_artist: np.ndarray,
    track_genre: np.ndarray,
    album_of_track: np.ndarray,
    released_day: np.ndarray,
) -> pl.DataFrame:
    """The tracks frame in the contract's schema."""
    album_names = _album_names(faker, int(album_of_track.max()) + 1)
    artist_id_series = pl.Series(artist_ids, dtype=pl.String)
    frame = pl.DataFrame(
        {
            "track_id": track_ids,
            "track_name": _track_names(faker, features["liveness"]),
            "artist_id": artist_id_series.gather(track_artist),
            "album_name": pl.Series(album_names, dtype=pl.String).gather(album_of_track),
            "genre": pl.Series(GENRES, dtype=pl.String).gather(track_genre),
            "duration_ms": features["duration_ms"],
            "explicit": features["explicit"],
            **{
                name: features[name]
                for name in (
                    "danceability",
                    "energy",
                    "valence",
                    "acousticness",
                    "instrumentalness",
                    "speechiness",
                    "liveness",
                    "tempo",
                    "loudness",
                )
            },
            "released_on": pl.Series(released_day, dtype=pl.Int32).cast(pl.Date),
        }
    )
    return frame.cast(TRACKS_SCHEMA).select(list(TRACKS_SCHEMA))
