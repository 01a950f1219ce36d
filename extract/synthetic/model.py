"""The generator's public types: its configuration, its output and the output's schemas."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

DEFAULT_END_DATE = dt.date(2026, 11, 1)

TIMESTAMPTZ = pl.Datetime("us", "UTC")

# Column names and dtypes of each frame, exactly as docs/data_contracts.md
# ("Synthetic listeners") and warehouse/raw_tables.py declare them.
USERS_SCHEMA = pl.Schema(
    {
        "user_id": pl.String(),
        "username": pl.String(),
        "country": pl.String(),
        "age_band": pl.String(),
        "signed_up_at": TIMESTAMPTZ,
    }
)
ARTISTS_SCHEMA = pl.Schema(
    {
        "artist_id": pl.String(),
        "artist_name": pl.String(),
        "genre": pl.String(),
    }
)
TRACKS_SCHEMA = pl.Schema(
    {
        "track_id": pl.String(),
        "track_name": pl.String(),
        "artist_id": pl.String(),
        "album_name": pl.String(),
        "genre": pl.String(),
        "duration_ms": pl.Int32(),
        "explicit": pl.Boolean(),
        "danceability": pl.Float64(),
        "energy": pl.Float64(),
        "valence": pl.Float64(),
        "acousticness": pl.Float64(),
        "instrumentalness": pl.Float64(),
        "speechiness": pl.Float64(),
        "liveness": pl.Float64(),
        "tempo": pl.Float64(),
        "loudness": pl.Float64(),
        "released_on": pl.Date(),
    }
)
PLAYS_SCHEMA = pl.Schema(
    {
        "user_id": pl.String(),
        "track_id": pl.String(),
        "played_at": TIMESTAMPTZ,
        "ms_played": pl.Int32(),
    }
)


@dataclass(frozen=True)
class SyntheticConfig:
    """What to simulate.

    Plays fall in [end_date - days, end_date) UTC. Users, artists and tracks depend only on
    `seed`, `n_users` and `n_tracks`, so runs over different windows share one catalog and
    one population; only the plays change with `days` and `end_date`.
    """

    seed: int = 42
    n_users: int = 2000
    n_tracks: int = 10000
    days: int = 120
    end_date: dt.date = DEFAULT_END_DATE

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.n_users < 1 or self.n_tracks < 1 or self.days < 1:
            raise ValueError(
                f"n_users, n_tracks and days must be >= 1, got {self.n_users}, "
                f"{self.n_tracks}, {self.days}"
            )

    @property
    def start_date(self) -> dt.date:
        """First (inclusive) UTC day of the play window."""
        return self.end_date - dt.timedelta(days=self.days)


@dataclass(frozen=True)
class SyntheticWorld:
    """One generated world: the four raw frames, each in its contract schema."""

    users: pl.DataFrame
    artists: pl.DataFrame
    tracks: pl.DataFrame
    plays: pl.DataFrame


# Independent random streams, so that drawing more plays never shifts the catalog or the
# population, and a different window (days, end_date) leaves them untouched.
_STREAMS = {"catalog": 1, "catalog_names": 2, "users": 3, "user_names": 4, "plays": 5}


def stream_rng(seed: int, stream: str) -> np.random.Generator:
    """A numpy Generator for one named part of the world, derived from the config's seed."""
    return np.random.default_rng([seed, _STREAMS[stream]])


def stream_faker_seed(seed: int, stream: str) -> int:
    """A Faker seed for one named part of the world (Faker keeps its own random state)."""
    return seed * 100 + _STREAMS[stream]
