"""Parse a Last.fm scrobble export (any layout `lastfm_layouts` knows) into raw rows.

One vectorized pass per file: read every value as text, map the layout's columns to
raw.lastfm_scrobbles, parse the time, run the shared checks, split. The user is the one
given on the command line, else the file's own user column (the Last.fm-1K TSV), else the
file name's prefix before `__`. Rows keep the file's text as it is (exact duplicates
included: dbt de-duplicates); only empty strings become NULL.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from extract.files.casts import blank_to_null
from extract.files.checks import (
    REASON,
    play_checks,
    split_rows,
    text_checks,
    truncated_check,
)
from extract.files.inputs import InputFile
from extract.files.lastfm_layouts import Layout
from extract.files.parsed import ParsedFile, user_from_file_name
from extract.files.text import ROW_COLUMN, read_delimited, unique_names
from extract.files.times import parse_timestamp
from warehouse.raw_tables import LASTFM_SCROBBLES

SOURCE = "lastfm_export"
# raw column <- layout role
_TEXT_COLUMNS = {
    "artist_name": "artist",
    "track_name": "track",
    "album_name": "album",
    "artist_mbid": "artist_mbid",
    "track_mbid": "track_mbid",
    "album_mbid": "album_mbid",
}


def _role(layout: Layout, role: str) -> pl.Expr:
    if role not in layout.roles:
        return pl.lit(None, dtype=pl.String)
    return blank_to_null(pl.col(f"c{layout.roles[role]}"))


def _user(layout: Layout, file: InputFile, user: str | None) -> pl.Expr:
    if user:
        return pl.lit(user)
    from_name = pl.lit(user_from_file_name(file.name))
    if "user" in layout.roles:
        return pl.coalesce(_role(layout, "user"), from_name)
    return from_name


def parse_lastfm_export(
    file: InputFile, text: str, layout: Layout, *, user: str | None, now: dt.datetime
) -> ParsedFile:
    """Rows of raw.lastfm_scrobbles and quarantined rows of one export file."""
    table = read_delimited(
        file.name,
        text,
        separator=layout.separator,
        quoting=layout.quoting,
        has_header=layout.has_header,
    )
    columns = table.value_columns
    if table.header is not None:
        names = unique_names(table.header)
    else:
        by_position = {position: role for role, position in layout.roles.items()}
        by_position.update({position: "time" for position in layout.time_columns})
        names = unique_names([by_position.get(i) for i in range(len(columns))])
    times = [pl.col(f"c{i}") for i in layout.time_columns if i < len(columns)]
    prepared = table.rows.with_columns(
        *(_role(layout, role).alias(name) for name, role in _TEXT_COLUMNS.items()),
        pl.coalesce([blank_to_null(t) for t in times]).alias("_time_text"),
        pl.coalesce([parse_timestamp(t) for t in times]).alias("played_at"),
        _user(layout, file, user).alias("user_name"),
        pl.lit(file.name).alias("source_ref"),
    )
    checks = [
        *truncated_check(table.truncated_row),
        *text_checks(
            [
                f"c{i}"
                for i in sorted({*layout.roles.values(), *layout.time_columns})
                if i < len(columns)
            ]
        ),
        *play_checks(
            time_text=pl.col("_time_text"),
            played_at=pl.col("played_at"),
            artist=pl.col("artist_name"),
            track=pl.col("track_name"),
            now=now,
            missing_time="no timestamp (now playing)",
        ),
    ]
    split = split_rows(
        prepared,
        checks=checks,
        loaded=[pl.col(c) for c in LASTFM_SCROBBLES.column_names],
        rejected=["source_ref", ROW_COLUMN, *columns],
    )
    rejected = split.rejected.rename(dict(zip(columns, names, strict=True)))
    ragged = table.ragged.with_columns(
        pl.lit(file.name).alias("source_ref"),
        pl.col(ROW_COLUMN).cast(pl.String),
        pl.lit(f"more than {len(columns)} fields").alias(REASON),
    )
    if ragged.height:
        rejected = pl.concat([rejected, ragged], how="diagonal")
    return ParsedFile(
        name=file.name,
        source=SOURCE,
        table=LASTFM_SCROBBLES,
        layout=layout.name,
        rows_in=table.rows.height + table.ragged.height,
        loaded=split.loaded,
        rejected=rejected,
        blank_lines=table.blank,
    )
