"""Create the warehouse's schemas and the tables that dbt does not own. Idempotent.

dbt owns `staging`, `intermediate` and `marts`; the loader owns `raw` and `raw_rejected`;
the ML job owns `ml` and publishes into `serving`. Their tables are created here so every
part (and dbt's sources) can rely on them existing before the first run.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from warehouse.raw_tables import BATCH_COLUMNS, RAW_SCHEMA, RAW_TABLES, RawTable

SCHEMAS = ("raw", "raw_rejected", "staging", "intermediate", "marts", "ml", "serving")
READER_ROLE = "recs_reader"

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

create table if not exists serving.recommendations (
    user_id text not null,
    track_key text not null,
    rank integer not null check (rank >= 1),
    score double precision not null check (score between 0 and 1),
    reason text not null,
    model_version text not null,
    generated_at timestamptz not null,
    primary key (user_id, rank),
    unique (user_id, track_key)
);

-- The recommended tracks' titles, artists and genres, published in the same transaction as
-- serving.recommendations: the serving view reads only serving tables, so rebuilding the
-- marts (which drops and recreates them) never takes it away from clients.
create table if not exists serving.tracks (
    track_key text primary key,
    track_name text,
    artist_name text,
    genre text,
    model_version text not null,
    generated_at timestamptz not null
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
    return sql.SQL("create index if not exists {} on {}.{} (_source, _logical_date)").format(
        sql.Identifier(f"{table.name}_batch_idx"),
        sql.Identifier(RAW_SCHEMA), sql.Identifier(table.name),
    )


def bootstrap(conn: psycopg.Connection) -> None:
    """Create schemas, raw tables, ml/serving tables and the read-only role."""
    with conn.transaction():
        # Concurrent first runs (parallel tasks) must not race on CREATE ... IF NOT EXISTS.
        conn.execute("select pg_advisory_xact_lock(hashtext('encore.bootstrap'))")
        for schema in SCHEMAS:
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        for table in RAW_TABLES.values():
            conn.execute(raw_table_ddl(table))
            conn.execute(raw_batch_index_ddl(table))
        conn.execute(_STATIC_DDL)
        _ensure_reader_role(conn)


def _ensure_reader_role(conn: psycopg.Connection) -> None:
    """`recs_reader` may read `serving` and nothing else (see DESIGN.md, serving contract)."""
    exists = conn.execute("select 1 from pg_roles where rolname = %s", [READER_ROLE]).fetchone()
    if not exists:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(READER_ROLE)))
    role = sql.Identifier(READER_ROLE)
    conn.execute(sql.SQL("grant usage on schema serving to {}").format(role))
    conn.execute(sql.SQL("grant select on all tables in schema serving to {}").format(role))
    conn.execute(
        sql.SQL("alter default privileges in schema serving grant select on tables to {}")
        .format(role)
    )
