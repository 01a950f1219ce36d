"""The landing zone: extracted data as Parquet files, between "extract" and "load".

Extract tasks write what they fetched or generated as one Parquet file per raw table; load
tasks COPY those files into `raw.*`. Splitting the two means a failed load retries without
calling an API or regenerating data again, and what was extracted can be inspected.

Each run lands into a folder of its own, `.encore/landing/<source>/.runs/<date>.<run>/`,
and returns it: its load reads exactly those files, whatever another run of the same source
and date does meanwhile (say `make ingest` while the DAG runs that date). When complete, the
folder becomes the date's current landing, `.encore/landing/<source>/<date>`, a symlink
swapped atomically, so a reader of that path sees one whole run, never half of one. Older
runs of the date are removed once they are an hour old (a slow load may still read one).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

import polars as pl

from warehouse.paths import state_dir

log = logging.getLogger(__name__)

RUNS = ".runs"
KEEP_SECONDS = 3600  # a superseded run's folder outlives its replacement by this long


def landing_dir(source: str, logical_date: dt.date) -> Path:
    """The date's current landing (a symlink to the latest complete run's folder)."""
    return state_dir() / "landing" / source / logical_date.isoformat()


def land_frames(source: str, logical_date: dt.date, frames: dict[str, pl.DataFrame]) -> Path:
    """Write one Parquet file per raw table into this run's own folder, make it the date's
    current landing, and return the run's folder."""
    current = landing_dir(source, logical_date)
    runs = current.parent / RUNS
    runs.mkdir(parents=True, exist_ok=True)
    run = runs / f"{current.name}.{time.time_ns()}.{uuid.uuid4().hex[:8]}"
    partial = run.with_name(run.name + ".partial")
    partial.mkdir()
    for table_name, frame in frames.items():
        frame.write_parquet(partial / f"{table_name}.parquet")
    partial.rename(run)
    _make_current(current, run)
    _prune(runs, current.name, keep=run)
    return run


def _make_current(current: Path, run: Path) -> None:
    """Point `current` at `run` atomically (a new symlink renamed over the old one)."""
    if current.is_dir() and not current.is_symlink():  # a landing from before run folders
        shutil.rmtree(current, ignore_errors=True)
    link = current.with_name(f".{current.name}.{uuid.uuid4().hex[:8]}.link")
    link.symlink_to(Path(RUNS) / run.name, target_is_directory=True)
    os.replace(link, current)


def _prune(runs: Path, date: str, keep: Path) -> None:
    """Remove the date's superseded runs (and abandoned partial ones) older than an hour."""
    cutoff = time.time() - KEEP_SECONDS
    for folder in runs.glob(f"{date}.*"):
        if folder == keep:
            continue
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:  # another run pruned it first
            continue


def read_landed(folder: Path) -> dict[str, pl.DataFrame]:
    """The frames of a landed folder, by raw table name."""
    if not folder.is_dir():
        raise FileNotFoundError(f"nothing landed at {folder}: run the extract step first")
    return {path.stem: pl.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}
