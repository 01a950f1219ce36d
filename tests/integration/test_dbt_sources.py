"""`dbt build` over hand-made Last.fm, Spotify and Kaggle raw rows: plays of every source
reach marts.fct_plays with the track_key that track identity gives them.

Uses `module_warehouse_url`, a bootstrapped database of this module's own whose synthetic
tables stay empty (so the project also builds without the synthetic world). The rows are
made to be awkward: the same song named by Kaggle (with its Spotify id) and by Last.fm
(no id, no accents, "feat.", "- Remastered 2011"), a scrobble loaded from the API and from
an export, Spotify plays under, at and over 30 s, a play without ms_played (and one that
repeats an export row), plays without a Spotify id, MusicBrainz ids on some scrobbles
only, a Spotify search answer.

What is checked:
- `dbt build` succeeds: every model, data test and unit test;
- every expected play is in marts.fct_plays with its track_key, and no other play;
- Spotify plays: under 30 s dropped, played_at = ended_at - ms_played, a recently-played
  row repeating an export row dropped;
- marts.rpt_track_match_rates counts the plays per source and key kind;
- dim_tracks carries Kaggle's audio features and genre, Spotify's popularity, Last.fm's
  listeners; dim_users maps the Last.fm profile (country code, age band).
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import psycopg
import pytest

from tests.integration.test_dbt_build import run_dbt_build
from warehouse.loader import load_batch
from warehouse.raw_tables import (
    KAGGLE_TRACKS,
    LASTFM_SCROBBLES,
    LASTFM_TRACK_INFO,
    LASTFM_USER_INFO,
    SPOTIFY_ARTISTS,
    SPOTIFY_PLAYS,
    SPOTIFY_TRACK_MATCHES,
    SPOTIFY_TRACKS,
    RawTable,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOGICAL_DATE = dt.date(2025, 3, 31)
LASTFM_USER = "enc_lf_ana"
SPOTIFY_USER = "enc_sp_bo"

# Spotify-like 22-character ids
CRAZY_IN_LOVE = "5IVuqXILoxVWvWEPm82Jxr"
BOHEMIAN_RHAPSODY = "4u7EnebtmKWzUH433cf5Qv"
HOPPIPOLLA = "0fbFVBOrXn3dFAbJxhkCzH"
SQUARE_HAMMER = "3HcSMFBpVCKeEbQkCD3Y6W"
SQUARE_HAMMER_ARTIST = "1Qp56T7n950O3EGMsSl81D"
REDNECK = "3WNgKkFMZDGb6KQDrh1bVH"
FILLERS = [f"fill{i:018d}" for i in range(25)]


def _at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, second, tzinfo=dt.UTC)


def _frame(table: RawTable, rows: list[dict]) -> pl.DataFrame:
    """A frame with exactly the table's declared columns; missing values are NULL."""
    return pl.DataFrame(
        [{name: row.get(name) for name in table.column_names} for row in rows],
        schema=table.polars_schema,
    )


def _kaggle_row(track_id: str, artists: str, track_name: str, genre: str, **extra) -> dict:
    return {
        "source_row": extra.pop("source_row", 0),
        "track_id": track_id,
        "artists": artists,
        "album_name": f"{track_name} (album)",
        "track_name": track_name,
        "popularity": extra.pop("popularity", 10),
        "duration_ms": 200_000,
        "explicit": False,
        "danceability": 0.5,
        "energy": 0.5,
        "key": 5,
        "loudness": -7.0,
        "mode": 1,
        "speechiness": 0.05,
        "acousticness": 0.2,
        "instrumentalness": 0.0,
        "liveness": 0.1,
        "valence": 0.5,
        "tempo": 120.0,
        "time_signature": 4,
        "track_genre": genre,
        **extra,
    }


KAGGLE = [
    # listed under two genres; the artist's other track is "dance" -> one row, genre dance
    _kaggle_row(
        CRAZY_IN_LOVE,
        "Beyoncé;JAY-Z",
        "Crazy In Love (feat. Jay-Z)",
        "pop",
        source_row=1,
        popularity=80,
        danceability=0.66,
    ),
    _kaggle_row(
        CRAZY_IN_LOVE,
        "Beyoncé;JAY-Z",
        "Crazy In Love (feat. Jay-Z)",
        "dance",
        source_row=2,
        popularity=80,
        danceability=0.66,
    ),
    _kaggle_row("6RUKPb4LETWmmr3iAEQktW", "Beyoncé", "Single Ladies", "dance", source_row=3),
    _kaggle_row(
        BOHEMIAN_RHAPSODY,
        "Queen",
        "Bohemian Rhapsody - Remastered 2011",
        "rock",
        source_row=4,
        popularity=85,
        danceability=0.39,
    ),
    _kaggle_row(HOPPIPOLLA, "Sigur Rós", "Hoppípolla", "ambient", source_row=5, danceability=0.21),
    # a catalogue large enough to give every active listener 20 candidates
    *(
        _kaggle_row(
            track_id, f"Filler Artist {i}", f"Filler Song {i}", "filler", source_row=100 + i
        )
        for i, track_id in enumerate(FILLERS)
    ),
]

SCROBBLES_API = [
    # the same song as Kaggle's CRAZY_IN_LOVE: no id, no accent, a remaster suffix / feat.
    {
        "user_name": LASTFM_USER,
        "played_at": _at(1, 10),
        "artist_name": "Beyonce",
        "track_name": "Crazy in Love - Remastered 2011",
    },
    {
        "user_name": LASTFM_USER,
        "played_at": _at(3, 9),
        "artist_name": "BEYONCÉ feat. JAY-Z",
        "track_name": "Crazy In Love",
    },
    {
        "user_name": LASTFM_USER,
        "played_at": _at(2, 10),
        "artist_name": "Sigur Ros",
        "track_name": "Hoppipolla",
    },
    # a MusicBrainz id on one scrobble: both get it
    {
        "user_name": LASTFM_USER,
        "played_at": _at(4, 20),
        "artist_name": "Eluveitie",
        "track_name": "Thousandfold",
        "track_mbid": "9b2a8a1d-0000-4000-8000-00000000e1f0",
        "artist_mbid": "8000598a-5edb-401c-8e6d-36b167feaf38",
    },
    {
        "user_name": LASTFM_USER,
        "played_at": _at(20, 20),
        "artist_name": "Eluveitie",
        "track_name": "Thousandfold",
        "track_mbid": "",
    },
    # nothing to match: names only
    {
        "user_name": LASTFM_USER,
        "played_at": _at(5, 8),
        "artist_name": "Lamb of God",
        "track_name": "512",
    },
    # a Spotify search answer found it
    {
        "user_name": LASTFM_USER,
        "played_at": _at(6, 8),
        "artist_name": "Lamb of God",
        "track_name": "Redneck",
    },
]
# the export repeats one API scrobble (collapses) and adds one
SCROBBLES_EXPORT = [
    {
        "user_name": LASTFM_USER,
        "played_at": _at(1, 10),
        "artist_name": "Beyonce",
        "track_name": "Crazy in Love - Remastered 2011",
        "source_ref": "export.csv",
    },
    {
        "user_name": LASTFM_USER,
        "played_at": _at(28, 22),
        "artist_name": "Beyoncé",
        "track_name": "Crazy In Love",
        "source_ref": "export.csv",
    },
]

SPOTIFY_EXPORT = [
    # 354 s of playback ending 12:05:54 -> started 12:00:00
    {
        "user_name": SPOTIFY_USER,
        "ended_at": _at(2, 12, 5, 54),
        "ms_played": 354_000,
        "track_name": "Bohemian Rhapsody - Remastered 2011",
        "artist_name": "Queen",
        "track_id": f"spotify:track:{BOHEMIAN_RHAPSODY}",
    },
    # 12 s: not a play
    {
        "user_name": SPOTIFY_USER,
        "ended_at": _at(3, 12, 0, 12),
        "ms_played": 12_000,
        "track_name": "Bohemian Rhapsody - Remastered 2011",
        "artist_name": "Queen",
        "track_id": f"spotify:track:{BOHEMIAN_RHAPSODY}",
    },
    # exactly 30 s: a play
    {
        "user_name": SPOTIFY_USER,
        "ended_at": _at(4, 12, 0, 30),
        "ms_played": 30_000,
        "track_name": "Bohemian Rhapsody - Remastered 2011",
        "artist_name": "Queen",
        "track_id": f"spotify:track:{BOHEMIAN_RHAPSODY}",
    },
    # an old export format without ids: found by its names
    {
        "user_name": SPOTIFY_USER,
        "ended_at": _at(5, 12, 3, 20),
        "ms_played": 200_000,
        "track_name": "Bohemian Rhapsody",
        "artist_name": "Queen",
    },
    {
        "user_name": SPOTIFY_USER,
        "ended_at": _at(6, 18, 4),
        "ms_played": 240_000,
        "track_name": "Square Hammer",
        "artist_name": "Ghost",
        "track_id": f"spotify:track:{SQUARE_HAMMER}",
    },
    # a podcast episode: no track, no play
    {"user_name": SPOTIFY_USER, "ended_at": _at(7, 7, 30), "ms_played": 1_800_000},
]
# recently-played: no ms_played, played_at = ended_at
SPOTIFY_RECENT = [
    # the export's first listen again (ends 1 s later): the export row decides
    {
        "user_name": SPOTIFY_USER,
        "ended_at": _at(2, 12, 5, 55),
        "track_id": BOHEMIAN_RHAPSODY,
        "track_name": "Bohemian Rhapsody - Remastered 2011",
        "artist_name": "Queen",
    },
    {
        "user_name": SPOTIFY_USER,
        "ended_at": _at(29, 21),
        "track_name": "Square Hammer",
        "artist_name": "Ghost",
        "track_id": SQUARE_HAMMER,
    },
]

SPOTIFY_TRACK_OBJECTS = [
    {
        "track_id": SQUARE_HAMMER,
        "track_name": "Square Hammer",
        "artist_ids": json.dumps([SQUARE_HAMMER_ARTIST]),
        "artist_names": json.dumps(["Ghost"]),
        "album_name": "Popestar",
        "release_date": "2016-09-16",
        "duration_ms": 239_000,
        "explicit": False,
        "popularity": 70,
        "fetched_at": _at(30, 0),
    },
]
SPOTIFY_ARTIST_OBJECTS = [
    {
        "artist_id": SQUARE_HAMMER_ARTIST,
        "artist_name": "Ghost",
        "genres": json.dumps(["swedish metal", "hard rock"]),
        "popularity": 75,
        "followers": 2_000_000,
        "fetched_at": _at(30, 0),
    },
]
SPOTIFY_MATCHES = [
    {
        "query_artist": "Lamb of God",
        "query_title": "Redneck",
        "track_id": REDNECK,
        "matched_artist": "Lamb of God",
        "matched_title": "Redneck",
        "fetched_at": _at(30, 0),
    },
]
LASTFM_TRACKS = [
    {
        "artist_name": "Eluveitie",
        "track_name": "Thousandfold",
        "track_mbid": "9b2a8a1d-0000-4000-8000-00000000e1f0",
        "duration_ms": 0,
        "listeners": 123_456,
        "playcount": 654_321,
        "top_tags": json.dumps(["folk metal", "swiss"]),
        "fetched_at": _at(30, 0),
    },
]
LASTFM_USERS = [
    {
        "user_name": LASTFM_USER,
        "country": "United Kingdom",
        "age": 30,
        "gender": "n",
        "registered_at": _at(1, 0),
        "playcount": 9,
        "fetched_at": _at(30, 0),
    },
]

ELUVEITIE = "mbid:9b2a8a1d-0000-4000-8000-00000000e1f0"
# (user, played_at) -> (track_key, source): every play fct_plays must hold, and no other
EXPECTED_PLAYS = {
    (LASTFM_USER, _at(1, 10)): (f"spotify:{CRAZY_IN_LOVE}", "lastfm"),
    (LASTFM_USER, _at(3, 9)): (f"spotify:{CRAZY_IN_LOVE}", "lastfm"),
    (LASTFM_USER, _at(28, 22)): (f"spotify:{CRAZY_IN_LOVE}", "lastfm_export"),
    (LASTFM_USER, _at(2, 10)): (f"spotify:{HOPPIPOLLA}", "lastfm"),
    (LASTFM_USER, _at(4, 20)): (ELUVEITIE, "lastfm"),
    (LASTFM_USER, _at(20, 20)): (ELUVEITIE, "lastfm"),
    (LASTFM_USER, _at(5, 8)): ("name:lamb of god|512", "lastfm"),
    (LASTFM_USER, _at(6, 8)): (f"spotify:{REDNECK}", "lastfm"),
    (SPOTIFY_USER, _at(2, 12)): (f"spotify:{BOHEMIAN_RHAPSODY}", "spotify_export"),
    (SPOTIFY_USER, _at(4, 12)): (f"spotify:{BOHEMIAN_RHAPSODY}", "spotify_export"),
    (SPOTIFY_USER, _at(5, 12)): (f"spotify:{BOHEMIAN_RHAPSODY}", "spotify_export"),
    (SPOTIFY_USER, _at(6, 18)): (f"spotify:{SQUARE_HAMMER}", "spotify_export"),
    (SPOTIFY_USER, _at(29, 21)): (f"spotify:{SQUARE_HAMMER}", "spotify"),
}


@pytest.fixture(scope="module")
def sources_built(module_warehouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The module's database with the hand-made raw rows, after `dbt build`."""
    batches = [
        (KAGGLE_TRACKS, KAGGLE, "kaggle"),
        (LASTFM_SCROBBLES, SCROBBLES_API, "lastfm"),
        (LASTFM_SCROBBLES, SCROBBLES_EXPORT, "lastfm_export"),
        (LASTFM_TRACK_INFO, LASTFM_TRACKS, "lastfm"),
        (LASTFM_USER_INFO, LASTFM_USERS, "lastfm"),
        (SPOTIFY_PLAYS, SPOTIFY_EXPORT, "spotify_export"),
        (SPOTIFY_PLAYS, SPOTIFY_RECENT, "spotify"),
        (SPOTIFY_TRACKS, SPOTIFY_TRACK_OBJECTS, "spotify"),
        (SPOTIFY_ARTISTS, SPOTIFY_ARTIST_OBJECTS, "spotify"),
        (SPOTIFY_TRACK_MATCHES, SPOTIFY_MATCHES, "spotify"),
    ]
    with psycopg.connect(module_warehouse_url) as conn:
        for table, rows, source in batches:
            load_batch(conn, _frame(table, rows), table, source=source, logical_date=LOGICAL_DATE)
    run_dbt_build(module_warehouse_url, tmp_path_factory.mktemp("dbt_sources"))
    return module_warehouse_url


def _rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def test_plays_of_every_source_resolve_to_one_track_key(sources_built: str) -> None:
    plays = _rows(
        sources_built, "select user_id, played_at, track_key, source from marts.fct_plays"
    )
    actual = {
        (user, played_at): (track_key, source) for user, played_at, track_key, source in plays
    }
    assert len(actual) == len(plays), "one play per user and instant here"
    assert actual == EXPECTED_PLAYS


def test_spotify_plays_start_at_end_minus_ms_played_and_need_30_seconds(
    sources_built: str,
) -> None:
    plays = _rows(
        sources_built,
        "select played_at, ms_played from marts.fct_plays where user_id = %s order by played_at",
        (SPOTIFY_USER,),
    )
    assert plays == [
        (_at(2, 12), 354_000),  # ended 12:05:54 after 354 s
        (_at(4, 12), 30_000),  # exactly 30 s counts; the 12 s play on the 3rd does not
        (_at(5, 12), 200_000),
        (_at(6, 18), 240_000),
        (_at(29, 21), None),  # recently-played: no ms_played, played_at = ended_at
    ]


def test_match_rates_per_source(sources_built: str) -> None:
    rates = _rows(
        sources_built,
        "select source, play_count, spotify_key_play_count, mbid_key_play_count, "
        "name_key_play_count, audio_feature_play_count from marts.rpt_track_match_rates "
        "order by source",
    )
    assert rates == [
        # Crazy in Love x2, Hoppipolla, Redneck (search) | Eluveitie x2 | Lamb of God 512
        ("lastfm", 7, 4, 2, 1, 3),
        ("lastfm_export", 1, 1, 0, 0, 1),
        ("spotify", 1, 1, 0, 0, 0),
        ("spotify_export", 4, 4, 0, 0, 3),
    ]


def test_tracks_are_enriched_from_every_source(sources_built: str) -> None:
    tracks = {
        row[0]: row[1:]
        for row in _rows(
            sources_built,
            "select track_key, track_name, artist_name, genre, danceability, popularity, "
            "lastfm_listeners, has_catalogue_entry from marts.dim_tracks",
        )
    }
    assert tracks[f"spotify:{CRAZY_IN_LOVE}"] == (
        "Crazy In Love (feat. Jay-Z)",
        "Beyoncé",
        "dance",
        0.66,
        80,
        None,
        True,
    )
    assert tracks[f"spotify:{SQUARE_HAMMER}"] == (
        "Square Hammer",
        "Ghost",
        "swedish metal",
        None,
        70,
        None,
        True,
    )
    assert tracks[ELUVEITIE] == ("Thousandfold", "Eluveitie", None, None, None, 123_456, False)
    assert tracks["name:lamb of god|512"][:2] == ("512", "Lamb of God")
    # the whole Kaggle catalogue is in dim_tracks, played or not
    assert {f"spotify:{track_id}" for track_id in FILLERS} <= tracks.keys()

    artists = dict(_rows(sources_built, "select artist_key, artist_name from marts.dim_artists"))
    assert artists[f"spotify:{SQUARE_HAMMER_ARTIST}"] == "Ghost"
    assert artists["mbid:8000598a-5edb-401c-8e6d-36b167feaf38"] == "Eluveitie"


def test_lastfm_profile_becomes_a_user(sources_built: str) -> None:
    users = _rows(
        sources_built,
        "select user_id, country, age_band, source, play_count from marts.dim_users "
        "order by user_id",
    )
    assert users == [
        (LASTFM_USER, "GB", "25-34", "lastfm", 8),
        (SPOTIFY_USER, None, None, "spotify", 5),
    ]
