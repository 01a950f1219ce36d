"""The two checkpoints a run passes through: `raw` after the loads, `marts` after dbt.

Each builds its rules for the run (with the previous successful run's row counts as the
baseline), validates them, stores the result in `quality.*` whether it passed or not, logs
the warnings, and raises `QualityCheckFailed` when a critical expectation failed, so the
caller (an Airflow task, the CLI) only decides what a failure means for it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import psycopg

from quality import store, suites
from quality.config import Thresholds
from quality.errors import QualityCheckFailed
from quality.runner import run_checkpoint
from quality.summary import CheckpointSummary, RunContext, format_table
from warehouse import seam

log = logging.getLogger(__name__)


def check_raw(
    url: str,
    logical_date: dt.date,
    *,
    expected_tables: Iterable[str] = (),
    context: RunContext | None = None,
    thresholds: Thresholds | None = None,
    persist: bool = True,
) -> CheckpointSummary:
    """Check every raw table that received a batch for `logical_date` (and every table in
    `expected_tables`, which a load reported loading: it must not be empty)."""
    thresholds = thresholds or Thresholds.from_env()
    with psycopg.connect(url, autocommit=True) as conn:
        if persist:
            store.create_quality_tables(conn)
        data = seam.data(conn)
        batches = suites.raw_batches(data, logical_date)
        expected = [table for table in expected_tables if table in suites.RAW_RULES]
        names = [suites.raw_asset_name(t) for t in sorted(set(batches) | set(expected))]
        previous = store.previous_row_counts(conn, suites.RAW_CHECKPOINT, names)
    if not names:
        log.warning("no raw table received a batch for %s: nothing to check", logical_date)
    specs = suites.raw_specs(batches, logical_date, thresholds, previous, expected)
    return _finish(
        url, _frames_from(data), suites.RAW_CHECKPOINT, specs, logical_date, context, persist
    )


def check_marts(
    url: str,
    logical_date: dt.date,
    *,
    context: RunContext | None = None,
    thresholds: Thresholds | None = None,
    persist: bool = True,
) -> CheckpointSummary:
    """Check the marts the model trains and scores on."""
    thresholds = thresholds or Thresholds.from_env()
    with psycopg.connect(url, autocommit=True) as conn:
        if persist:
            store.create_quality_tables(conn)
        previous = store.previous_row_counts(
            conn, suites.MARTS_CHECKPOINT, suites.mart_asset_names()
        )
        read_from = _frames_from(seam.data(conn))
    specs = suites.mart_specs(logical_date, thresholds, previous, dt.datetime.now(dt.UTC))
    return _finish(url, read_from, suites.MARTS_CHECKPOINT, specs, logical_date, context, persist)


def _frames_from(data: seam.Warehouse) -> seam.Warehouse | None:
    """Where the assets are read as frames: None on PostgreSQL, whose rules run as SQL
    through great-expectations' data source on the URL; the warehouse elsewhere."""
    return None if isinstance(data, seam.Postgres) else data


def _finish(
    url: str,
    read_from: seam.Warehouse | None,
    name: str,
    specs: list[suites.AssetSpec],
    logical_date: dt.date,
    context: RunContext | None,
    persist: bool,
) -> CheckpointSummary:
    summary = run_checkpoint(
        url, name, specs, logical_date=logical_date, context=context, read_from=read_from
    )
    if persist:
        with psycopg.connect(url) as conn:
            store.save(conn, summary)
    if summary.success:
        log.info("%s", summary.headline())
    if summary.warnings:
        log.warning("quality warnings (stored, not fatal):\n%s", format_table(summary.warnings))
    if not summary.success:
        raise QualityCheckFailed(summary, stored=persist)
    return summary
