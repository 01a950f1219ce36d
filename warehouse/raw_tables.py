"""The raw tables, declared once: their columns and PostgreSQL types.

The loader refuses a frame that does not match its table, and the bootstrap creates the
tables from the same declarations, so a column is added in exactly one place (and in
docs/data_contracts.md). Table and column names come from here, never from input.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

RAW_SCHEMA = "raw"

# Batch metadata every raw table carries; filled in by the loader.
BATCH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_batch_id", "uuid not null"),
    ("_source", "text not null"),
    ("_loaded_at", "timestamptz not null default now()"),
    ("_logical_date", "date not null"),
)

# PostgreSQL type -> the polars dtype a frame must carry for it.
POLARS_TYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "integer": pl.Int32(),
    "bigint": pl.Int64(),
    "double precision": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "timestamptz": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class RawTable:
    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {name: POLARS_TYPES[pg_type] for name, pg_type in self.columns}


_AUDIO_FEATURES = tuple(
    (name, "double precision")
    for name in ("danceability", "energy", "valence", "acousticness", "instrumentalness",
                 "speechiness", "liveness", "tempo", "loudness")
)

SYNTHETIC_USERS = RawTable("synthetic_users", (
    ("user_id", "text"), ("username", "text"), ("country", "text"), ("age_band", "text"),
    ("signed_up_at", "timestamptz"),
))
SYNTHETIC_ARTISTS = RawTable("synthetic_artists", (
    ("artist_id", "text"), ("artist_name", "text"), ("genre", "text"),
))
SYNTHETIC_TRACKS = RawTable("synthetic_tracks", (
    ("track_id", "text"), ("track_name", "text"), ("artist_id", "text"), ("album_name", "text"),
    ("genre", "text"), ("duration_ms", "integer"), ("explicit", "boolean"),
    *_AUDIO_FEATURES,
    ("released_on", "date"),
))
SYNTHETIC_PLAYS = RawTable("synthetic_plays", (
    ("user_id", "text"), ("track_id", "text"), ("played_at", "timestamptz"),
    ("ms_played", "integer"),
))

RAW_TABLES: dict[str, RawTable] = {
    table.name: table
    for table in (SYNTHETIC_USERS, SYNTHETIC_ARTISTS, SYNTHETIC_TRACKS, SYNTHETIC_PLAYS)
}
