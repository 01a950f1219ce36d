"""Create the warehouse's schemas and the tables that dbt does not own. Idempotent.

dbt owns `staging`, `intermediate` and `marts`; the loader owns `raw` and `raw_rejected`;
the ML job owns `ml` and publishes into `serving` (whose layout `warehouse.serving` owns).
Their tables are created here so every part (and dbt's sources) can rely on them existing
before the first run.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from warehouse.raw_tables import BATCH_COLUMNS, RAW_SCHEMA, RAW_TABLES, RawTable
from warehouse.serving import (
    PUBLISH_LOCK,
    ensure_reader_role,
    ensure_serving,
    serving_columns_missing,
)

SCHEMAS = ("raw", "raw_rejected", "staging", "intermediate", "marts", "ml", "serving", "quality")

_STATIC_DDL = """
create table if not exists raw_rejected.rows (
    _batch_id uuid not null,
    _source text not null,
    _loaded_at timestamptz not null default now(),
    _logical_date date not null,
    table_name text not null,
    _reason text not null,
    record jsonb not null
);
create index if not exists rows_batch_idx
    on raw_rejected.rows (table_name, _source, _logical_date);

create table if not exists ml.model_runs (
    run_id uuid primary key,
    model_version text not null unique,
    trained_at timestamptz not null default now(),
    status text not null,
    train_rows bigint,
    valid_rows bigint,
    train_from timestamptz,
    train_until timestamptz,
    valid_from timestamptz,
    valid_until timestamptz,
    auc double precision,
    log_loss double precision,
    baseline_auc double precision,
    baseline_log_loss double precision,
    positive_rate double precision,
    params jsonb,
    features jsonb,
    artifact_path text
);
-- Added after the first release: upgrade warehouses bootstrapped before them.
alter table ml.model_runs add column if not exists user_auc double precision;
alter table ml.model_runs add column if not exists baseline_user_auc double precision;
alter table ml.model_runs add column if not exists metrics jsonb;

create table if not exists ml.scores (
    model_version text not null,
    user_id text not null,
    track_key text not null,
    candidate_source text,
    score double precision not null,
    scored_at timestamptz not null default now(),
    primary key (model_version, user_id, track_key)
);
"""


def raw_table_ddl(table: RawTable) -> sql.Composed:
    columns = [
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type))
        for name, pg_type in (*table.columns, *BATCH_COLUMNS)
    ]
    return sql.SQL("create table if not exists {}.{} ({})").format(
        sql.Identifier(RAW_SCHEMA), sql.Identifier(table.name), sql.SQL(", ").join(columns)
    )


def raw_batch_index_ddl(table: RawTable) -> sql.Composed:
    """The index a batch's delete finds its rows by. BRIN, not btree: a batch is appended
    in one COPY, so its rows sit in adjacent pages, and a BRIN index is cheap to maintain
    while the COPY runs (a btree on (_source, _logical_date) made a 1M-row load take 1.4x
    as long; docs/benchmarks.md). Snapshot tables keep none: their delete takes every row
    of the source, which a scan finds as fast, and keeping a BRIN up cost a quarter of a
    1M-play binary load. Warehouses bootstrapped before lose what they no longer need (the
    btree `<table>_batch_idx`; a snapshot table's `<table>_batch_brin`) once."""
    btree = sql.Identifier(RAW_SCHEMA, f"{table.name}_batch_idx")
    brin = f"{table.name}_batch_brin"
    if table.snapshot:
        return sql.SQL("drop index if exists {}; drop index if exists {}").format(
            btree, sql.Identifier(RAW_SCHEMA, brin)
        )
    return sql.SQL(
        "drop index if exists {}; create index if not exists {} on {}.{} using brin "
        "(_source, _logical_date) with (autosummarize = on)"
    ).format(btree, sql.Identifier(brin), sql.Identifier(RAW_SCHEMA), sql.Identifier(table.name))


def bootstrap(conn: psycopg.Connection) -> None:
    """Create schemas, raw tables, ml/serving tables and the read-only role."""
    with conn.transaction():
        # Concurrent first runs (parallel tasks) must not race on CREATE ... IF NOT EXISTS.
        conn.execute("select pg_advisory_xact_lock(hashtext('encore.bootstrap'))")
        if serving_columns_missing(conn):
            # An upgrade of serving ahead (see upgrade_serving_columns): wait for a running
            # publish first, before this transaction holds any lock that publish may need.
            conn.execute(PUBLISH_LOCK)
        for schema in SCHEMAS:
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        for table in RAW_TABLES.values():
            conn.execute(raw_table_ddl(table))
            conn.execute(raw_batch_index_ddl(table))
        conn.execute(_STATIC_DDL)
        ensure_serving(conn)  # warehouse/serving.py
        ensure_reader_role(conn)
