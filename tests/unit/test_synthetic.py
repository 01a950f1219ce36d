"""Behaviour of the synthetic listener generator (extract.synthetic).

One small world is generated once per module; each test checks one property the warehouse,
dbt and the model rely on: the contract's schema and keys, and listening that looks human
(long tail, waking hours, sessions, replays that fade, taste, listeners who differ).
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest

from extract.synthetic import (
    COUNTRY_UTC_OFFSET_HOURS,
    SyntheticConfig,
    SyntheticWorld,
    generate_world,
)

SMALL = SyntheticConfig(seed=3, n_users=150, n_tracks=4000, days=75, end_date=dt.date(2026, 11, 1))
REPEAT_WINDOW = dt.timedelta(days=30)

# docs/data_contracts.md, "Synthetic listeners": text -> String, int -> Int32,
# double precision -> Float64, bool -> Boolean, date -> Date, timestamptz -> UTC Datetime.
TIMESTAMPTZ = pl.Datetime("us", "UTC")
AUDIO_FEATURES = (
    "danceability",
    "energy",
    "valence",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "liveness",
)
CONTRACT_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "users": {
        "user_id": pl.String(),
        "username": pl.String(),
        "country": pl.String(),
        "age_band": pl.String(),
        "signed_up_at": TIMESTAMPTZ,
    },
    "artists": {"artist_id": pl.String(), "artist_name": pl.String(), "genre": pl.String()},
    "tracks": {
        "track_id": pl.String(),
        "track_name": pl.String(),
        "artist_id": pl.String(),
        "album_name": pl.String(),
        "genre": pl.String(),
        "duration_ms": pl.Int32(),
        "explicit": pl.Boolean(),
        **{name: pl.Float64() for name in AUDIO_FEATURES},
        "tempo": pl.Float64(),
        "loudness": pl.Float64(),
        "released_on": pl.Date(),
    },
    "plays": {
        "user_id": pl.String(),
        "track_id": pl.String(),
        "played_at": TIMESTAMPTZ,
        "ms_played": pl.Int32(),
    },
}
SPOTIFY_LIKE_ID = re.compile(r"^[0-9A-Za-z]{22}$")


@pytest.fixture(scope="module")
def world() -> SyntheticWorld:
    return generate_world(SMALL)


@pytest.fixture(scope="module")
def plays(world: SyntheticWorld) -> pl.DataFrame:
    """Plays with the track's genre and artist and the user's country attached."""
    return (
        world.plays.join(
            world.tracks.select("track_id", "artist_id", "genre", "duration_ms"), on="track_id"
        )
        .join(world.users.select("user_id", "country"), on="user_id")
        .sort("user_id", "played_at")
    )


@pytest.fixture(scope="module")
def first_plays(plays: pl.DataFrame) -> pl.DataFrame:
    """Each (user, track)'s first play whose 30-day window closed, with its repeat label.

    `artist_prior_plays` counts the user's earlier plays of the same artist.
    """
    window_end = dt.datetime.combine(SMALL.end_date, dt.time(), tzinfo=dt.UTC)
    return (
        plays.with_columns(
            nth_play=pl.int_range(pl.len()).over("user_id", "track_id"),
            next_played_at=pl.col("played_at").shift(-1).over("user_id", "track_id"),
            artist_prior_plays=pl.int_range(pl.len()).over("user_id", "artist_id"),
        )
        .filter((pl.col("nth_play") == 0) & (pl.col("played_at") + REPEAT_WINDOW <= window_end))
        .with_columns(
            repeat_30d=(
                (pl.col("next_played_at") - pl.col("played_at")) <= REPEAT_WINDOW
            ).fill_null(False)
        )
    )


def _frames(world: SyntheticWorld) -> dict[str, pl.DataFrame]:
    return {
        "users": world.users,
        "artists": world.artists,
        "tracks": world.tracks,
        "plays": world.plays,
    }


# --- determinism and stability ------------------------------------------------------------


def test_same_config_gives_identical_world(world: SyntheticWorld) -> None:
    again = generate_world(SMALL)
    for name, frame in _frames(world).items():
        assert frame.equals(_frames(again)[name]), name


def test_other_seed_gives_other_world(world: SyntheticWorld) -> None:
    other = generate_world(SyntheticConfig(seed=4, n_users=150, n_tracks=4000, days=75))
    assert not other.users.equals(world.users)
    assert not other.tracks.equals(world.tracks)
    assert not other.plays.equals(world.plays)


def test_only_plays_depend_on_the_window(world: SyntheticWorld) -> None:
    shifted = generate_world(
        SyntheticConfig(seed=3, n_users=150, n_tracks=4000, days=40, end_date=dt.date(2026, 6, 1))
    )
    assert shifted.users.equals(world.users)
    assert shifted.artists.equals(world.artists)
    assert shifted.tracks.equals(world.tracks)
    assert shifted.plays.height > 0
    assert not shifted.plays.equals(world.plays)


def test_progress_reports_every_stage() -> None:
    calls: list[tuple[str, int, int]] = []
    generate_world(
        SyntheticConfig(seed=1, n_users=20, n_tracks=200, days=10),
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    stages = {stage for stage, _, _ in calls}
    assert {"catalog", "listeners", "sessions", "discoveries", "replays", "plays"} <= stages
    assert all(0 <= done <= total for _, done, total in calls)


@pytest.mark.parametrize("field", ["n_users", "n_tracks", "days", "seed"])
def test_config_rejects_nonsense(field: str) -> None:
    with pytest.raises(ValueError):
        SyntheticConfig(**{field: -1})


def test_degenerate_window_still_matches_the_contract() -> None:
    # Before anybody signed up: no plays, but every frame keeps its schema.
    world = generate_world(
        SyntheticConfig(seed=1, n_users=3, n_tracks=5, days=2, end_date=dt.date(1990, 1, 1))
    )
    assert world.plays.height == 0
    for name, frame in _frames(world).items():
        assert dict(frame.schema) == CONTRACT_SCHEMAS[name]


# --- contract: schema, keys, references, ranges ------------------------------------------


@pytest.mark.parametrize("name", list(CONTRACT_SCHEMAS))
def test_schema_matches_the_contract(world: SyntheticWorld, name: str) -> None:
    frame = _frames(world)[name]
    assert list(frame.schema.items()) == list(CONTRACT_SCHEMAS[name].items())
    assert frame.null_count().sum_horizontal().item() == 0


def test_sizes_follow_the_config(world: SyntheticWorld) -> None:
    assert world.users.height == SMALL.n_users
    assert world.tracks.height == SMALL.n_tracks
    assert world.artists.height == round(SMALL.n_tracks / 8)


def test_keys_are_unique_and_well_formed(world: SyntheticWorld) -> None:
    assert world.users["user_id"].is_unique().all()
    assert world.users["username"].is_unique().all()
    assert world.artists["artist_id"].is_unique().all()
    assert world.tracks["track_id"].is_unique().all()
    assert world.users["user_id"].str.contains(r"^syn_u\d{5}$").all()
    assert world.users["user_id"][0] == "syn_u00001"
    for ids in (world.artists["artist_id"], world.tracks["track_id"]):
        assert all(SPOTIFY_LIKE_ID.match(value) for value in ids)
    assert world.plays.select("user_id", "played_at").is_unique().all()


def test_references_resolve(world: SyntheticWorld) -> None:
    assert world.tracks["artist_id"].is_in(world.artists["artist_id"].implode()).all()
    assert world.plays["user_id"].is_in(world.users["user_id"].implode()).all()
    assert world.plays["track_id"].is_in(world.tracks["track_id"].implode()).all()
    # A track carries its artist's genre.
    genres = world.tracks.join(world.artists, on="artist_id", suffix="_of_artist")
    assert (genres["genre"] == genres["genre_of_artist"]).all()


def test_plays_lie_in_the_window_and_are_sorted(world: SyntheticWorld) -> None:
    start = dt.datetime.combine(SMALL.start_date, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(SMALL.end_date, dt.time(), tzinfo=dt.UTC)
    assert world.plays["played_at"].min() >= start
    assert world.plays["played_at"].max() < end
    assert world.plays.equals(world.plays.sort("user_id", "played_at"))


def test_plays_happen_after_signup_and_release(world: SyntheticWorld) -> None:
    joined = world.plays.join(world.users, on="user_id").join(
        world.tracks.select("track_id", "released_on"), on="track_id"
    )
    assert (joined["played_at"] >= joined["signed_up_at"]).all()
    assert (joined["played_at"].dt.date() >= joined["released_on"]).all()


def test_ms_played_is_a_real_listen(plays: pl.DataFrame) -> None:
    assert plays["ms_played"].min() >= 30_000
    assert (plays["ms_played"] <= plays["duration_ms"]).all()
    skipped = (plays["ms_played"] < plays["duration_ms"]).mean()
    assert 0.05 < skipped < 0.5


def test_catalog_values_are_plausible(world: SyntheticWorld) -> None:
    tracks = world.tracks
    for name in AUDIO_FEATURES:
        assert tracks[name].is_between(0.0, 1.0).all(), name
    assert tracks["tempo"].is_between(60.0, 200.0).all()
    assert tracks["loudness"].is_between(-30.0, 0.0).all()
    assert tracks["duration_ms"].is_between(60_000, 900_000).all()
    assert 3.0 < tracks["duration_ms"].median() / 60_000 < 4.5
    assert world.artists["genre"].n_unique() == 20
    assert set(world.users["age_band"]) <= {"18-24", "25-34", "35-44", "45-54", "55+"}
    assert world.users["country"].str.contains(r"^[A-Z]{2}$").all()
    assert world.users["country"].n_unique() > 10


def test_genres_sound_like_themselves(world: SyntheticWorld) -> None:
    by_genre = world.tracks.group_by("genre").agg(pl.col("energy", "acousticness").mean())
    mean = {row["genre"]: row for row in by_genre.iter_rows(named=True)}
    assert mean["metal"]["energy"] > mean["classical"]["energy"] + 0.4
    assert mean["classical"]["acousticness"] > mean["metal"]["acousticness"] + 0.5
    assert mean["ambient"]["acousticness"] > mean["techno"]["acousticness"]


# --- listening behaviour -----------------------------------------------------------------


def test_volume_is_substantial(world: SyntheticWorld) -> None:
    plays_per_user_day = world.plays.height / (SMALL.n_users * SMALL.days)
    assert 2.0 < plays_per_user_day < 8.0
    assert world.plays["user_id"].n_unique() > 0.9 * SMALL.n_users


def test_popularity_has_a_long_tail(world: SyntheticWorld) -> None:
    per_track = world.plays.group_by("track_id").len().sort("len", descending=True)
    top_tenth = per_track["len"].head(SMALL.n_tracks // 10).sum()
    assert top_tenth / world.plays.height > 0.40


def test_sessions_start_at_human_hours(plays: pl.DataFrame) -> None:
    offsets = pl.DataFrame(
        {
            "country": list(COUNTRY_UTC_OFFSET_HOURS),
            "offset_s": [int(h * 3600) for h in COUNTRY_UTC_OFFSET_HOURS.values()],
        }
    )
    local_hour = plays.join(offsets, on="country").select(
        ((pl.col("played_at").dt.epoch("s") + pl.col("offset_s")) // 3600 % 24).alias("hour")
    )["hour"]
    small_hours = local_hour.is_between(2, 5).mean()  # 02:00-05:59
    evening = local_hour.is_between(18, 21).mean()  # 18:00-21:59
    assert small_hours < 0.25 * evening


def test_sessions_are_clearly_separated(plays: pl.DataFrame) -> None:
    gap_minutes = (
        plays.select(pl.col("played_at").diff().over("user_id").dt.total_seconds() / 60)
        .drop_nulls()
        .to_series()
    )
    within = (gap_minutes < 30).mean()
    ambiguous = gap_minutes.is_between(20, 40).mean()
    assert 0.5 < within < 0.95  # several plays per session, and many sessions
    assert ambiguous < 0.01
    # Inside a session, plays run back to back: the gap is the previous play's length.
    back_to_back = plays.with_columns(
        gap_ms=pl.col("played_at").diff().over("user_id").dt.total_milliseconds(),
        previous_ms=pl.col("ms_played").shift().over("user_id"),
    ).filter(pl.col("gap_ms") < 30 * 60_000)
    assert (back_to_back["gap_ms"] >= back_to_back["previous_ms"]).all()
    assert ((back_to_back["gap_ms"] - back_to_back["previous_ms"]) < 10_000).mean() > 0.9


def test_replays_fade_with_time(plays: pl.DataFrame) -> None:
    days_since_first = (
        plays.with_columns(first=pl.col("played_at").min().over("user_id", "track_id"))
        .filter(pl.col("played_at") > pl.col("first"))
        .select((pl.col("played_at") - pl.col("first")).dt.total_seconds() / 86_400)
        .to_series()
    )
    first_week = days_since_first.is_between(0, 7).sum()
    fourth_week = days_since_first.is_between(23, 30).sum()
    assert first_week > 3 * fourth_week > 0
    assert (days_since_first > 30).sum() > 0  # some songs come back only after a month


def test_repeat_rate_is_in_a_learnable_range(first_plays: pl.DataFrame) -> None:
    assert 0.15 < first_plays["repeat_30d"].mean() < 0.35


def test_listeners_differ_in_how_much_they_replay(first_plays: pl.DataFrame) -> None:
    per_user = (
        first_plays.group_by("user_id")
        .agg(pl.col("repeat_30d").mean().alias("rate"), pl.len())
        .filter(pl.col("len") >= 30)
    )
    assert per_user.height > 50
    assert per_user["rate"].quantile(0.9) - per_user["rate"].quantile(0.1) > 0.2


def test_tracks_differ_in_how_much_they_are_replayed(first_plays: pl.DataFrame) -> None:
    per_track = (
        first_plays.group_by("track_id")
        .agg(pl.col("repeat_30d").mean().alias("rate"), pl.len())
        .filter(pl.col("len") >= 15)
    )
    assert per_track.height > 100
    assert per_track["rate"].quantile(0.9) - per_track["rate"].quantile(0.1) > 0.2


def test_listeners_stick_to_their_genres(plays: pl.DataFrame) -> None:
    top_three_share = (
        plays.group_by("user_id", "genre")
        .len()
        .with_columns(share=pl.col("len") / pl.col("len").sum().over("user_id"))
        .sort("share", descending=True)
        .group_by("user_id")
        .agg(pl.col("share").head(3).sum())
    )["share"]
    assert top_three_share.median() > 0.6  # evenly spread over 20 genres would be 0.15


def test_history_with_an_artist_predicts_replays(first_plays: pl.DataFrame) -> None:
    rate = {
        loved: group["repeat_30d"].mean()
        for (loved,), group in first_plays.filter(
            (pl.col("artist_prior_plays") == 0) | (pl.col("artist_prior_plays") >= 5)
        ).group_by(pl.col("artist_prior_plays") >= 5)
    }
    assert rate[True] > rate[False] + 0.04
