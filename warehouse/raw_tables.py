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
    "jsonb": pl.String(),  # JSON text; COPY parses it into jsonb
}


@dataclass(frozen=True)
class RawTable:
    """A raw table. `snapshot`: every load of its source replaces the whole source
    (`replace="source"`), so its batch delete takes all of the source's rows and the table
    keeps no batch index (warehouse.bootstrap)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    snapshot: bool = False

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {name: POLARS_TYPES[pg_type] for name, pg_type in self.columns}


_AUDIO_FEATURES = tuple(
    (name, "double precision")
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
)

SYNTHETIC_USERS = RawTable(
    "synthetic_users",
    (
        ("user_id", "text"),
        ("username", "text"),
        ("country", "text"),
        ("age_band", "text"),
        ("signed_up_at", "timestamptz"),
    ),
    snapshot=True,
)
SYNTHETIC_ARTISTS = RawTable(
    "synthetic_artists",
    (
        ("artist_id", "text"),
        ("artist_name", "text"),
        ("genre", "text"),
    ),
    snapshot=True,
)
SYNTHETIC_TRACKS = RawTable(
    "synthetic_tracks",
    (
        ("track_id", "text"),
        ("track_name", "text"),
        ("artist_id", "text"),
        ("album_name", "text"),
        ("genre", "text"),
        ("duration_ms", "integer"),
        ("explicit", "boolean"),
        *_AUDIO_FEATURES,
        ("released_on", "date"),
    ),
    snapshot=True,
)
SYNTHETIC_PLAYS = RawTable(
    "synthetic_plays",
    (
        ("user_id", "text"),
        ("track_id", "text"),
        ("played_at", "timestamptz"),
        ("ms_played", "integer"),
    ),
    snapshot=True,
)

# Last.fm: scrobbles from the API (_source 'lastfm') and from users' CSV exports
# (_source 'lastfm_export'); `source_ref` says which API method or file a row came from.
LASTFM_SCROBBLES = RawTable(
    "lastfm_scrobbles",
    (
        ("user_name", "text"),
        ("played_at", "timestamptz"),
        ("artist_name", "text"),
        ("artist_mbid", "text"),
        ("track_name", "text"),
        ("track_mbid", "text"),
        ("album_name", "text"),
        ("album_mbid", "text"),
        ("source_ref", "text"),
    ),
)
LASTFM_TRACK_INFO = RawTable(
    "lastfm_track_info",
    (
        ("artist_name", "text"),
        ("track_name", "text"),
        ("track_mbid", "text"),
        ("duration_ms", "integer"),
        ("listeners", "bigint"),
        ("playcount", "bigint"),
        ("top_tags", "jsonb"),
        ("fetched_at", "timestamptz"),
    ),
)
LASTFM_USER_INFO = RawTable(
    "lastfm_user_info",
    (
        ("user_name", "text"),
        ("country", "text"),
        ("age", "integer"),
        ("gender", "text"),
        ("registered_at", "timestamptz"),
        ("playcount", "bigint"),
        ("fetched_at", "timestamptz"),
    ),
)

# Spotify Web API (_source 'spotify') and account-data exports (_source 'spotify_export').
SPOTIFY_TRACKS = RawTable(
    "spotify_tracks",
    (
        ("track_id", "text"),
        ("track_name", "text"),
        ("artist_ids", "jsonb"),
        ("artist_names", "jsonb"),
        ("album_id", "text"),
        ("album_name", "text"),
        ("release_date", "text"),
        ("duration_ms", "integer"),
        ("explicit", "boolean"),
        ("popularity", "integer"),
        ("isrc", "text"),
        ("fetched_at", "timestamptz"),
    ),
)
SPOTIFY_ARTISTS = RawTable(
    "spotify_artists",
    (
        ("artist_id", "text"),
        ("artist_name", "text"),
        ("genres", "jsonb"),
        ("popularity", "integer"),
        ("followers", "bigint"),
        ("fetched_at", "timestamptz"),
    ),
)
# Search answers for plays that carry no Spotify id: (artist, title) asked -> track found.
SPOTIFY_TRACK_MATCHES = RawTable(
    "spotify_track_matches",
    (
        ("query_artist", "text"),
        ("query_title", "text"),
        ("track_id", "text"),
        ("matched_artist", "text"),
        ("matched_title", "text"),
        ("fetched_at", "timestamptz"),
    ),
)
# Listening events: exports (StreamingHistory*, Streaming_History_Audio_*, endsong_*) and
# recently-played. `ended_at` is when playback stopped (the exports' endTime / ts).
SPOTIFY_PLAYS = RawTable(
    "spotify_plays",
    (
        ("user_name", "text"),
        ("ended_at", "timestamptz"),
        ("ms_played", "integer"),
        ("track_name", "text"),
        ("artist_name", "text"),
        ("album_name", "text"),
        ("track_id", "text"),
        ("reason_start", "text"),
        ("reason_end", "text"),
        ("shuffle", "boolean"),
        ("skipped", "boolean"),
        ("platform", "text"),
        ("source_ref", "text"),
    ),
)

# The Kaggle Spotify tracks dataset (maharshipandya), one row per CSV row.
KAGGLE_TRACKS = RawTable(
    "kaggle_tracks",
    (
        ("source_row", "integer"),
        ("track_id", "text"),
        ("artists", "text"),
        ("album_name", "text"),
        ("track_name", "text"),
        ("popularity", "integer"),
        ("duration_ms", "integer"),
        ("explicit", "boolean"),
        ("danceability", "double precision"),
        ("energy", "double precision"),
        ("key", "integer"),
        ("loudness", "double precision"),
        ("mode", "integer"),
        ("speechiness", "double precision"),
        ("acousticness", "double precision"),
        ("instrumentalness", "double precision"),
        ("liveness", "double precision"),
        ("valence", "double precision"),
        ("tempo", "double precision"),
        ("time_signature", "integer"),
        ("track_genre", "text"),
    ),
    snapshot=True,
)

RAW_TABLES: dict[str, RawTable] = {
    table.name: table
    for table in (
        SYNTHETIC_USERS,
        SYNTHETIC_ARTISTS,
        SYNTHETIC_TRACKS,
        SYNTHETIC_PLAYS,
        LASTFM_SCROBBLES,
        LASTFM_TRACK_INFO,
        LASTFM_USER_INFO,
        SPOTIFY_TRACKS,
        SPOTIFY_ARTISTS,
        SPOTIFY_TRACK_MATCHES,
        SPOTIFY_PLAYS,
        KAGGLE_TRACKS,
    )
}
