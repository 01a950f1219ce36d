"""COPY landed Last.fm folders into raw.lastfm_*, one batch per table for the date.

A table is loaded only when some folder holds it, so a run that skipped a step (no key,
metadata turned off) leaves that table's earlier batch for the date alone, while a run
that fetched zero rows does replace it (zero rows is then the truth for that window).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import psycopg

from extract.lastfm.config import SOURCE
from extract.lastfm.extract import REJECTED_SUFFIX, REPORT, combine
from extract.lastfm.fetch import OK
from warehouse.landing import read_landed
from warehouse.raw_tables import LASTFM_SCROBBLES, LASTFM_TRACK_INFO, LASTFM_USER_INFO
from warehouse.seam import load_batch

log = logging.getLogger(__name__)

TABLES = (LASTFM_SCROBBLES, LASTFM_USER_INFO, LASTFM_TRACK_INFO)

Folders = Path | str | Sequence[Path | str | None] | None


def _folders(folders: Folders) -> list[Path]:
    if folders is None:
        return []
    if isinstance(folders, Path | str):
        return [Path(folders)]
    return [Path(folder) for folder in folders if folder]


def skipped_users(report: pl.DataFrame) -> dict[str, str]:
    """User -> why they were skipped (private, not_found), from a landed report."""
    return {
        row["user_name"]: row["status"] for row in report.filter(pl.col("status") != OK).to_dicts()
    }


def load_landed(
    conn: psycopg.Connection, folders: Folders, logical_date: dt.date
) -> dict[str, int]:
    """Load one landed folder, or a list of them (per-user extracts), for `logical_date`.

    Returns rows loaded per raw table, plus `rejected` (rows quarantined) and
    `users_skipped`; {} when nothing was landed (the source was off).
    """
    paths = _folders(folders)
    if not paths:
        log.info("Last.fm: nothing landed for %s, nothing loaded", logical_date)
        return {}
    frames = combine([read_landed(path) for path in paths])
    counts: dict[str, int] = {}
    rejected = 0
    for table in TABLES:
        if table.name not in frames:
            continue
        result = load_batch(
            conn,
            frames[table.name],
            table,
            source=SOURCE,
            logical_date=logical_date,
            rejected=frames.get(table.name + REJECTED_SUFFIX),
        )
        counts[table.name] = result.rows_loaded
        rejected += result.rows_rejected
    counts["rejected"] = rejected
    skipped = skipped_users(frames[REPORT]) if REPORT in frames else {}
    counts["users_skipped"] = len(skipped)
    if skipped:
        log.warning(
            "Last.fm %s: users skipped: %s",
            logical_date,
            ", ".join(f"{user} ({why})" for user, why in skipped.items()),
        )
    return counts
