"""The row checks every listening source shares, and the split into loaded and quarantined.

A row is quarantined (with the first reason that applies) when it cannot be a play: no or
an unparseable timestamp, one before 2002-01-01 (Last.fm writes 0 for some old scrobbles)
or in the future, an empty artist or track, bytes that were not UTF-8, a NUL character
(PostgreSQL text cannot hold one: loading it would fail the whole batch), a field longer
than any real title (10 kB of junk is a broken file, not a song), or the last row of a file
that was cut off in the middle of it. Everything else loads,
including exact duplicates and plays under 30 s: deciding what counts as a play is dbt's
job, and raw keeps what the file said.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from extract.files.text import REPLACEMENT_CHAR, ROW_COLUMN
from extract.files.times import EARLIEST

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

MAX_FIELD_CHARS = 2048
REASON = "_reason"
NUL = "\x00"
TRUNCATED_ROW = "truncated row (the file ends in the middle of it)"

Check = tuple[pl.Expr, str]


def text_checks(columns: Sequence[str]) -> list[Check]:
    """Encoding and size problems in any of the given text columns."""
    if not columns:
        return []
    return [
        (
            pl.any_horizontal(
                pl.col(c).str.contains(REPLACEMENT_CHAR, literal=True) for c in columns
            ).fill_null(False),
            "invalid UTF-8 bytes",
        ),
        (
            pl.any_horizontal(pl.col(c).str.contains(NUL, literal=True) for c in columns).fill_null(
                False
            ),
            "NUL character in a field",
        ),
        (
            pl.any_horizontal(
                pl.col(c).str.len_chars() > MAX_FIELD_CHARS for c in columns
            ).fill_null(False),
            f"field longer than {MAX_FIELD_CHARS} characters",
        ),
    ]


def truncated_check(row: int | None) -> list[Check]:
    """The row a file was cut off in (`Table.truncated_row`), when there is one."""
    if row is None:
        return []
    return [(pl.col(ROW_COLUMN) == row, TRUNCATED_ROW)]


def play_checks(
    *,
    time_text: pl.Expr,
    played_at: pl.Expr,
    artist: pl.Expr,
    track: pl.Expr,
    now: dt.datetime,
    missing_time: str = "missing timestamp",
) -> list[Check]:
    """The checks on a play's time, artist and track (already blank-to-null)."""
    return [
        (time_text.is_null(), missing_time),
        (played_at.is_null(), "unparseable timestamp"),
        (played_at < EARLIEST, "timestamp before 2002-01-01"),
        (played_at > now, "timestamp in the future"),
        (artist.is_null(), "empty artist"),
        (track.is_null(), "empty track"),
    ]


def first_reason(checks: Sequence[Check]) -> pl.Expr:
    """The reason of the first check that fails, null when the row passes all of them."""
    expr: Then | ChainedThen | None = None
    for condition, reason in checks:
        expr = (pl.when(condition) if expr is None else expr.when(condition)).then(pl.lit(reason))
    if expr is None:
        return pl.lit(None, dtype=pl.String).alias(REASON)
    return expr.otherwise(pl.lit(None, dtype=pl.String)).alias(REASON)


@dataclass(frozen=True)
class Split:
    """One file's outcome: rows for raw, rows for quarantine (with `_reason`)."""

    loaded: pl.DataFrame
    rejected: pl.DataFrame


def split_rows(
    frame: pl.DataFrame,
    *,
    checks: Sequence[Check],
    loaded: Sequence[pl.Expr],
    rejected: Sequence[str],
) -> Split:
    """Evaluate the checks once; passing rows get the `loaded` expressions, the others keep
    the `rejected` columns (as text, for the JSON record) plus their reason."""
    judged = frame.with_columns(first_reason(checks))
    good = judged.filter(pl.col(REASON).is_null()).select(loaded)
    bad = judged.filter(pl.col(REASON).is_not_null()).select(
        *(pl.col(c).cast(pl.String) for c in rejected), REASON
    )
    return Split(good, bad)
