"""Helpers for tests that build the marts several ways and compare them: in-process dbt
against a given warehouse URL, row counts and checksums of marts, and set differences
between two tables.

dbt runs through `dbt.cli.main.dbtRunner`, as tests/integration/test_dbt_build.py does, with
the profile's ENCORE_PG_* variables derived from the URL and target/ and logs/ in a scratch
folder (the project's own target/manifest.json, which Airflow reads, is left alone).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import psycopg
import pytest
from psycopg import sql

from warehouse.paths import dbt_project_dir

# Every mart a client or the ML job reads, with the columns that order it (its key).
MART_KEYS: dict[str, tuple[str, ...]] = {
    "fct_plays": ("play_id",),
    "fct_sessions": ("session_id",),
    "dim_users": ("user_id",),
    "dim_tracks": ("track_key",),
    "dim_artists": ("artist_key",),
    "fct_first_plays": ("user_id", "track_key"),
    "fct_pair_features": ("user_id", "track_key"),
    "fct_candidate_features": ("user_id", "track_key"),
    "rpt_track_match_rates": ("source",),
}

# Columns left out of checksums because they legitimately change from run to run: none of
# the marts has one today (no build timestamps, no batch ids, no load times); list
# `{"mart": {"column"}}` here should one appear.
VOLATILE_COLUMNS: dict[str, set[str]] = {}


@dataclass(frozen=True)
class DbtRun:
    result: object
    seconds: float

    def timing(self, model: str) -> float:
        """Execution time of one model in this run (seconds)."""
        for node_result in self.result.result or []:
            if node_result.node.name == model:
                return node_result.execution_time
        raise KeyError(model)


def run_dbt(warehouse_url: str, scratch: Path, *args: str, vars: dict | None = None) -> DbtRun:
    """`dbt <args>` against `warehouse_url`, in-process; asserts success."""
    from dbt.cli.main import dbtRunner

    from warehouse.connections import dbt_env

    project = dbt_project_dir()
    command = [
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target",
        "postgres",
        "--target-path",
        str(scratch / "target"),
        "--log-path",
        str(scratch / "logs"),
    ]
    if vars:
        import json

        command += ["--vars", json.dumps(vars)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_URL", warehouse_url)
        for key, value in dbt_env().items():
            patch.setenv(key, value)
        patch.setenv("DBT_TARGET", "postgres")
        patch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
        started = time.perf_counter()
        result = dbtRunner().invoke(command)
        seconds = time.perf_counter() - started
    # `docs generate` returns a catalog, not node results
    node_results = getattr(result.result, "results", None) or []
    failures = [
        f"{node_result.node.unique_id}: {node_result.status} {node_result.message}"
        for node_result in node_results
        if str(node_result.status) not in {"success", "pass"}
    ]
    assert result.success, f"dbt {' '.join(args)} failed: {result.exception or ''}\n" + "\n".join(
        failures
    )
    return DbtRun(result, seconds)


def load_and_build(warehouse_url: str, config, scratch: Path) -> str:
    """A synthetic world (`config`) in raw.* of `warehouse_url` and the marts built from it
    (models and seeds; dbt's own tests run elsewhere); returns the URL."""
    from extract.synthetic_load import generate_and_load

    with psycopg.connect(warehouse_url) as conn:
        generate_and_load(conn, config)
    run_dbt(
        warehouse_url,
        scratch,
        "build",
        "--exclude-resource-type",
        "test",
        "--exclude-resource-type",
        "unit_test",
    )
    return warehouse_url


def table_columns(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "select column_name from information_schema.columns "
        "where table_schema = %s and table_name = %s order by ordinal_position",
        [schema, table],
    ).fetchall()
    assert rows, f"{schema}.{table} does not exist"
    return [name for (name,) in rows]


def mart_checksum(conn: psycopg.Connection, mart: str, schema: str = "marts") -> tuple[int, str]:
    """(row count, md5 over the md5 of every row's text, ordered by the mart's key)."""
    volatile = VOLATILE_COLUMNS.get(mart, set())
    columns = [c for c in table_columns(conn, schema, mart) if c not in volatile]
    row = sql.SQL("row({})").format(sql.SQL(", ").join(map(sql.Identifier, columns)))
    order = sql.SQL(", ").join(map(sql.Identifier, MART_KEYS[mart]))
    query = sql.SQL(
        "select count(*), coalesce(md5(string_agg(md5(cast({row} as text)), '' order by {order}"
        ")), '') from {schema}.{mart}"
    ).format(row=row, order=order, schema=sql.Identifier(schema), mart=sql.Identifier(mart))
    count, digest = conn.execute(query).fetchone()
    return count, digest


def marts_state(conn: psycopg.Connection, marts=tuple(MART_KEYS)) -> dict[str, tuple[int, str]]:
    """Row count and checksum of each mart."""
    return {mart: mart_checksum(conn, mart) for mart in marts}


def snapshot_table(conn: psycopg.Connection, schema: str, table: str, copy: str) -> None:
    """`create table <copy> as select * from <schema>.<table>` (replacing <copy>), in the
    `scratch` schema."""
    conn.execute("create schema if not exists scratch")
    conn.execute(sql.SQL("drop table if exists scratch.{}").format(sql.Identifier(copy)))
    conn.execute(
        sql.SQL("create table scratch.{} as select * from {}.{}").format(
            sql.Identifier(copy), sql.Identifier(schema), sql.Identifier(table)
        )
    )
    conn.commit()


def set_difference(conn: psycopg.Connection, left: str, right: str) -> tuple[int, int]:
    """(rows of `left` not in `right`, rows of `right` not in `left`), both given as
    schema-qualified names, compared on all columns with EXCEPT ALL (duplicates count)."""

    def count(a: str, b: str) -> int:
        query = sql.SQL("select count(*) from (select * from {} except all select * from {}) d")
        return conn.execute(query.format(sql.SQL(a), sql.SQL(b))).fetchone()[0]

    return count(left, right), count(right, left)


def read_frame(conn: psycopg.Connection, query: str, params=None) -> pl.DataFrame:
    with conn.cursor() as cur:
        cur.execute(query, params)
        columns = [column.name for column in cur.description]
        return pl.DataFrame(cur.fetchall(), schema=columns, orient="row", infer_schema_length=None)


def utc_days(start: dt.date, n: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(n)]


def train_score_publish(warehouse_url: str, artifacts: Path) -> str:
    """A real model trained on the built marts (30 validation days), its scores and their
    publish; returns the model version."""
    from ml.publish import publish
    from ml.score import score
    from ml.train import train

    with psycopg.connect(warehouse_url) as conn:
        run = train(conn, artifacts_dir=artifacts, validation_days=30)
        score(conn, model_version=run.model_version, artifacts_dir=artifacts)
        publish(conn, model_version=run.model_version)
    return run.model_version
