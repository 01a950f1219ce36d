"""Land parsed files and load them into raw: the glue between parsing and the warehouse.

Batches: one per (source, logical date) and raw table. All files of one import that belong
to a source go into that source's single batch, so an import is atomic per source and a
rerun with the same files and date replaces the batch with identical rows. The flip side,
on purpose: a second import for the same date *replaces* the first one's batch, so import
everything for a date in one command (a folder or zip), or use another date.
The Kaggle dataset is a snapshot source: a new load replaces all of its earlier batches.

Like the synthetic source, an import is two steps that Airflow can run separately:
`land_import` writes Parquet files to the landing zone (`.encore/landing/<source>/<date>/`,
`<table>.parquet` and `<table>.rejected.parquet`), `load_landed` COPYs one landed source.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg

from config import get_settings
from extract.files import detect as kinds
from extract.files.importer import ParsedImport, SourceRows, parse_path
from extract.files.kaggle_source import locate_kaggle_csv
from warehouse.landing import land_frames, read_landed
from warehouse.loader import LoadResult
from warehouse.raw_tables import KAGGLE_TRACKS, LASTFM_SCROBBLES, SPOTIFY_PLAYS, RawTable
from warehouse.seam import load_batch

log = logging.getLogger(__name__)

REJECTED_SUFFIX = ".rejected"
# source -> (raw table, what a new batch replaces)
SOURCES: dict[str, tuple[RawTable, Literal["logical_date", "source"]]] = {
    kinds.LASTFM: (LASTFM_SCROBBLES, "logical_date"),
    kinds.SPOTIFY: (SPOTIFY_PLAYS, "logical_date"),
    kinds.KAGGLE: (KAGGLE_TRACKS, "source"),
}


@dataclass(frozen=True)
class ImportResult:
    parsed: ParsedImport
    loads: dict[str, LoadResult]  # by source


def land_source(rows: SourceRows, logical_date: dt.date) -> Path:
    """Write one source's rows and quarantined rows to the landing zone."""
    return land_frames(
        rows.source,
        logical_date,
        {
            rows.table.name: rows.loaded,
            rows.table.name + REJECTED_SUFFIX: rows.rejected,
        },
    )


def land_import(parsed: ParsedImport, logical_date: dt.date) -> dict[str, str]:
    """Land every source of a parsed import; the landed folder per source (as text, so an
    Airflow task can hand it on through XCom)."""
    return {
        source: str(land_source(rows, logical_date)) for source, rows in parsed.by_source().items()
    }


def kaggle_configured() -> bool:
    """Whether a Kaggle dataset can be had: a CSV path or download credentials."""
    settings = get_settings()
    return bool(settings.kaggle_tracks_csv or (settings.kaggle_username and settings.kaggle_key))


def land_kaggle(csv: Path | None, logical_date: dt.date) -> dict[str, str]:
    """Parse the Kaggle tracks CSV (`csv`, else KAGGLE_TRACKS_CSV, else a download) and land
    it; the landed folder per source, like `land_import`."""
    parsed = parse_path(locate_kaggle_csv(csv), accept=(kinds.KAGGLE,))
    return land_import(parsed, logical_date)


def load_landed(
    conn: psycopg.Connection, source: str, folder: str | Path, *, logical_date: dt.date
) -> LoadResult:
    """COPY one landed source into its raw table, replacing its batch (one transaction)."""
    table, replace = SOURCES[source]
    frames = read_landed(Path(folder))
    return load_batch(
        conn,
        frames[table.name],
        table,
        source=source,
        logical_date=logical_date,
        rejected=frames.get(table.name + REJECTED_SUFFIX),
        replace=replace,
    )


def load_parsed(
    conn: psycopg.Connection, parsed: ParsedImport, *, logical_date: dt.date
) -> dict[str, LoadResult]:
    """Land, then load, each source of a parsed import."""
    return {
        source: load_landed(conn, source, folder, logical_date=logical_date)
        for source, folder in land_import(parsed, logical_date).items()
    }


def import_path(
    conn: psycopg.Connection,
    path: Path,
    *,
    logical_date: dt.date,
    user: str | None = None,
    now: dt.datetime | None = None,
) -> ImportResult:
    """Import a file, folder or zip of listening exports: parse, land, load."""
    parsed = parse_path(path, user=user, now=now)
    return ImportResult(parsed, load_parsed(conn, parsed, logical_date=logical_date))


def load_kaggle(
    conn: psycopg.Connection, csv: Path | None = None, *, logical_date: dt.date
) -> ImportResult:
    """Load the Kaggle tracks dataset (a snapshot: replaces the earlier loads)."""
    parsed = parse_path(locate_kaggle_csv(csv), accept=(kinds.KAGGLE,))
    return ImportResult(parsed, load_parsed(conn, parsed, logical_date=logical_date))
