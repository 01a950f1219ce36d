"""The landing zone: extracted data as Parquet files, between "extract" and "load".

Extract tasks write what they fetched or generated under
`.encore/landing/<source>/<logical date>/<raw table>.parquet`; load tasks COPY those files
into `raw.*`. Splitting the two means a failed load retries without calling an API or
regenerating data again, and what was extracted can be inspected. A folder is written under
a temporary name and renamed when complete, so a load never sees half an extract.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl

from warehouse.paths import state_dir


def landing_dir(source: str, logical_date: dt.date) -> Path:
    return state_dir() / "landing" / source / logical_date.isoformat()


def land_frames(source: str, logical_date: dt.date, frames: dict[str, pl.DataFrame]) -> Path:
    """Write one Parquet file per raw table, replacing any earlier landing of the same date."""
    final = landing_dir(source, logical_date)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for table_name, frame in frames.items():
        frame.write_parquet(partial / f"{table_name}.parquet")
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final


def read_landed(folder: Path) -> dict[str, pl.DataFrame]:
    """The frames of a landed folder, by raw table name."""
    if not folder.is_dir():
        raise FileNotFoundError(f"nothing landed at {folder}: run the extract step first")
    return {path.stem: pl.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}
