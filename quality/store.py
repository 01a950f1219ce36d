"""The `quality` schema: every checkpoint run and every expectation's result, queryable.

A run's quality must outlive its Airflow log: these tables let anyone ask "what did the
checks see on that date" with SQL, and they hold the row counts the next run compares
against. The checkpoints create them on demand (`create_quality_tables`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from quality.summary import CheckpointSummary

SCHEMA = "quality"
ROW_COUNT_EXPECTATION = "expect_table_row_count_to_be_between"

DDL = """
create schema if not exists quality;

create table if not exists quality.checkpoint_runs (
    run_id uuid primary key,
    checkpoint text not null,
    logical_date date not null,
    dag_id text,
    dag_run_id text,
    task_id text,
    try_number integer,
    success boolean not null,
    evaluated integer not null,
    failed integer not null,
    warnings integer not null,
    started_at timestamptz not null,
    finished_at timestamptz not null
);
create index if not exists checkpoint_runs_lookup_idx
    on quality.checkpoint_runs (checkpoint, finished_at desc);

create table if not exists quality.expectation_results (
    run_id uuid not null references quality.checkpoint_runs (run_id) on delete cascade,
    position integer not null,
    asset text not null,
    expectation_type text not null,
    column_name text,
    kwargs jsonb not null,
    severity text not null,
    success boolean not null,
    expected text not null,
    observed jsonb,
    unexpected_count bigint,
    unexpected_percent double precision,
    example_values jsonb,
    error text,
    primary key (run_id, position)
);
create index if not exists expectation_results_asset_idx
    on quality.expectation_results (asset, expectation_type);
"""


def create_quality_tables(conn: psycopg.Connection) -> None:
    """Create the `quality` schema and its tables (idempotent; in the caller's transaction
    when there is one). Concurrent first checks must not race on CREATE ... IF NOT EXISTS."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('encore.quality'))")
        conn.execute(DDL)


def tables_exist(conn: psycopg.Connection) -> bool:
    row = conn.execute("select to_regclass('quality.expectation_results') is not null").fetchone()
    return bool(row and row[0])


def _plain(value: Any) -> Any:
    """JSON-safe copy of a great-expectations value (datetimes, decimals, numpy scalars)."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def save(conn: psycopg.Connection, summary: CheckpointSummary) -> None:
    """Store one run and its results in one transaction."""
    context = summary.context
    with conn.transaction():
        conn.execute(
            "insert into quality.checkpoint_runs (run_id, checkpoint, logical_date, dag_id,"
            " dag_run_id, task_id, try_number, success, evaluated, failed, warnings,"
            " started_at, finished_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                summary.run_id,
                summary.checkpoint,
                summary.logical_date,
                context.dag_id,
                context.dag_run_id,
                context.task_id,
                context.try_number,
                summary.success,
                len(summary.outcomes),
                len(summary.failures),
                len(summary.warnings),
                summary.started_at,
                summary.finished_at,
            ],
        )
        with conn.cursor() as cursor:
            cursor.executemany(
                "insert into quality.expectation_results (run_id, position, asset,"
                " expectation_type, column_name, kwargs, severity, success, expected, observed,"
                " unexpected_count, unexpected_percent, example_values, error)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    [
                        summary.run_id,
                        position,
                        o.asset,
                        o.expectation_type,
                        o.column,
                        Jsonb(_plain(o.kwargs)),
                        o.severity,
                        o.success,
                        o.expected,
                        Jsonb(_plain(o.observed)),
                        o.unexpected_count,
                        o.unexpected_percent,
                        Jsonb(_plain(o.examples)),
                        o.error,
                    ]
                    for position, o in enumerate(summary.outcomes)
                ],
            )


def previous_row_counts(
    conn: psycopg.Connection, checkpoint: str, assets: Iterable[str]
) -> dict[str, int]:
    """Each asset's row count as observed by the latest successful run of `checkpoint`
    (the baseline of the row-count bounds). A failed run never becomes a baseline, so one
    bad load cannot drag the bounds along with it."""
    assets = list(assets)
    if not assets or not tables_exist(conn):
        return {}
    rows = conn.execute(
        "select distinct on (r.asset) r.asset, r.observed"
        " from quality.expectation_results r"
        " join quality.checkpoint_runs c on c.run_id = r.run_id"
        " where c.checkpoint = %s and c.success and r.expectation_type = %s"
        " and r.asset = any(%s) and jsonb_typeof(r.observed) = 'number'"
        " order by r.asset, c.finished_at desc",
        [checkpoint, ROW_COUNT_EXPECTATION, assets],
    ).fetchall()
    return {asset: int(observed) for asset, observed in rows}
