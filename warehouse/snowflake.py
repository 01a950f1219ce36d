"""The raw and serving tables as Snowflake DDL, from the same declarations as PostgreSQL.

On Snowflake (`DBT_TARGET=snowflake`) dbt reads `RAW.*` like it reads `raw.*` in
PostgreSQL, so the tables must exist there with the same columns. They are generated from
warehouse/raw_tables.py (one declaration, two dialects) and printed by
`python -m warehouse snowflake-ddl`; the offline Snowflake test creates its tables with the
same statements.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import polars as pl

from config import get_settings
from warehouse.landing import read_landed
from warehouse.raw_tables import BATCH_COLUMNS, RAW_TABLES, RawTable

# PostgreSQL type (warehouse/raw_tables.py) -> Snowflake type.
SNOWFLAKE_TYPES: dict[str, str] = {
    "text": "varchar",
    "integer": "integer",
    "bigint": "bigint",
    "double precision": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamptz": "timestamp_tz",
    "jsonb": "variant",
    "uuid": "varchar",
}

# What the ML job publishes (warehouse/serving.py has the PostgreSQL originals).
SERVING_TABLES: dict[str, str] = {
    "RECOMMENDATIONS": (
        "user_id varchar not null, track_key varchar not null, rank integer not null, "
        "score double not null, reason varchar not null, model_version varchar not null, "
        "generated_at timestamp_tz not null, as_of timestamp_tz not null"
    ),
    "TRACKS": (
        "track_key varchar not null, track_name varchar, artist_name varchar, genre varchar, "
        "model_version varchar not null, generated_at timestamp_tz not null"
    ),
}

SERVING_ADDED_COLUMNS: list[tuple[str, str]] = [("RECOMMENDATIONS", "as_of timestamp_tz")]

LOAD_STAGE = "LOADS"  # RAW.LOADS: the internal stage raw batches pass through (load_frame)
# The quarantine, as PostgreSQL's raw_rejected.rows (warehouse/bootstrap.py); `record` holds
# the row as JSON text.
REJECTED_COLUMNS = (
    "_batch_id varchar not null, _source varchar not null, _loaded_at timestamp_tz not null, "
    "_logical_date date not null, table_name varchar not null, _reason varchar not null, "
    "record variant not null"
)
REJECTED_SOURCE = {  # each column of RAW_REJECTED.ROWS from the staged Parquet file
    "_batch_id": "$1:_batch_id::varchar",
    "_source": "$1:_source::varchar",
    "_loaded_at": "$1:_loaded_at::timestamp_tz",
    "_logical_date": "$1:_logical_date::date",
    "table_name": "$1:table_name::varchar",
    "_reason": "$1:_reason::varchar",
    "record": "parse_json($1:record)",
}


def snowflake_type(pg_type: str) -> str:
    """The Snowflake type for a declared PostgreSQL column type (constraints dropped)."""
    base = pg_type.replace(" not null", "").split(" default ")[0].strip()
    return SNOWFLAKE_TYPES[base]


def raw_table_ddl(database: str, table: RawTable) -> str:
    columns = ", ".join(
        f"{name} {snowflake_type(pg_type)}" for name, pg_type in (*table.columns, *BATCH_COLUMNS)
    )
    return f"create table if not exists {database}.RAW.{table.name.upper()} ({columns})"


def _check_identifier(database: str) -> None:
    """A database name goes into SQL text: only a plain identifier may."""
    if not database.replace("_", "").isalnum():
        raise ValueError(f"not a plain Snowflake identifier: {database!r}")


def ddl_statements(database: str = "ENCORE") -> list[str]:
    """Every statement that prepares a Snowflake database for the dbt project."""
    _check_identifier(database)
    statements = [f"create database if not exists {database}"]
    statements += [
        f"create schema if not exists {database}.{schema}" for schema in ("RAW", "SERVING")
    ]
    statements += [raw_table_ddl(database, table) for table in RAW_TABLES.values()]
    statements.append(f"create stage if not exists {database}.RAW.{LOAD_STAGE}")
    statements += [
        f"create schema if not exists {database}.RAW_REJECTED",
        f"create table if not exists {database}.RAW_REJECTED.ROWS ({REJECTED_COLUMNS})",
    ]
    statements += [
        f"create table if not exists {database}.SERVING.{name} ({columns})"
        for name, columns in SERVING_TABLES.items()
    ]
    # Columns added since: tables created before them gain them (nullable: Snowflake cannot
    # add a NOT NULL column without a default to rows that exist).
    statements += [
        f"alter table {database}.SERVING.{name} add column if not exists {column}"
        for name, column in SERVING_ADDED_COLUMNS
    ]
    return statements


def load_frame(
    cursor: Any,
    database: str,
    table: RawTable,
    frame: pl.DataFrame,
    *,
    source: str,
    logical_date: dt.date,
    batch_id: uuid.UUID | None = None,
    rejected: pl.DataFrame | None = None,
) -> int:
    """Replace the (source, logical date) batch of RAW.<table> with `frame`, and its
    quarantined rows in RAW_REJECTED.ROWS with `rejected` (any columns plus `_reason`, as
    the PostgreSQL loader takes them); rows loaded.

    The same batch semantics as the PostgreSQL loader (warehouse/loader.py): the batch's
    previous rows are deleted and the new ones copied in one transaction, so a rerun of a
    date replaces rather than duplicates. The rows travel as one Parquet file, PUT to the
    internal stage RAW.LOADS under the batch's own id (a rerun never meets Snowflake's
    "already loaded" file history) and loaded with `COPY INTO ... MATCH_BY_COLUMN_NAME`,
    which purges the file once it is in.
    """
    _check_identifier(database)
    name = f"{database}.RAW.{table.name.upper()}"  # identifiers from raw_tables.py only
    stage = f"{database}.RAW.{LOAD_STAGE}/{batch_id or uuid.uuid4()}"
    batch = stage.rsplit("/", 1)[1]
    loaded_at = dt.datetime.now(dt.UTC)
    batch_columns = [
        pl.lit(batch).alias("_batch_id"),
        pl.lit(source).alias("_source"),
        pl.lit(loaded_at).alias("_loaded_at"),
        pl.lit(logical_date).alias("_logical_date"),
    ]
    files = {
        "rows": frame.select(table.column_names).with_columns(batch_columns),
        "rejected": _quarantine_rows(table, rejected).with_columns(batch_columns),
    }
    with tempfile.TemporaryDirectory(prefix="encore-snowflake-") as folder:
        for part, rows in files.items():
            if rows.height:
                path = Path(folder) / f"{part}.parquet"
                rows.write_parquet(path)
                cursor.execute(f"put 'file://{path}' @{stage}/{part}/ auto_compress=false")
    cursor.execute("begin")
    try:
        cursor.execute(
            f"delete from {name} where _source = %s and _logical_date = %s",  # noqa: S608
            (source, logical_date),
        )
        cursor.execute(
            f"delete from {database}.RAW_REJECTED.ROWS "  # noqa: S608
            "where table_name = %s and _source = %s and _logical_date = %s",
            (table.name, source, logical_date),
        )
        if files["rows"].height:
            cursor.execute(
                f"copy into {name} from @{stage}/rows/ file_format = (type = parquet) "
                "match_by_column_name = case_insensitive purge = true"
            )
        if files["rejected"].height:  # `record` parsed: a JSON object, as jsonb in PostgreSQL
            cursor.execute(
                f"copy into {database}.RAW_REJECTED.ROWS ({', '.join(REJECTED_SOURCE)}) "  # noqa: S608
                f"from (select {', '.join(REJECTED_SOURCE.values())} from @{stage}/rejected/) "
                "file_format = (type = parquet) purge = true"
            )
        cursor.execute("commit")
    except Exception:
        cursor.execute("rollback")
        raise
    return frame.height


def _quarantine_rows(table: RawTable, rejected: pl.DataFrame | None) -> pl.DataFrame:
    """`rejected` as RAW_REJECTED.ROWS's own columns (the batch columns come later)."""
    if rejected is None or rejected.height == 0:
        return pl.DataFrame(
            schema={"table_name": pl.String, "_reason": pl.String, "record": pl.String}
        )
    if "_reason" not in rejected.columns:
        raise ValueError("rejected rows need a `_reason` column")
    records = rejected.drop("_reason").cast(pl.String).to_dicts()
    return pl.DataFrame(
        {
            "table_name": [table.name] * rejected.height,
            "_reason": rejected["_reason"].cast(pl.String),
            "record": [json.dumps(record, ensure_ascii=False) for record in records],
        }
    )


def load_landed(
    cursor: Any, database: str, folder: Path, *, source: str, logical_date: dt.date
) -> dict[str, int]:
    """Load every raw table of a landed folder (`.encore/landing/<source>/<date>/`), with its
    quarantined rows (`<table>.rejected.parquet`) into RAW_REJECTED.ROWS."""
    frames = read_landed(folder)
    return {
        name: load_frame(
            cursor,
            database,
            RAW_TABLES[name],
            frame,
            source=source,
            logical_date=logical_date,
            rejected=frames.get(f"{name}.rejected"),
        )
        for name, frame in frames.items()
        if name in RAW_TABLES
    }


def connect_from_env() -> Any:
    """A Snowflake connection from the same SNOWFLAKE_* variables dbt's profile reads."""
    import snowflake.connector

    settings = get_settings()
    missing = [
        name.upper()
        for name in ("snowflake_account", "snowflake_user")
        if not getattr(settings, name)
    ]
    if missing:
        raise RuntimeError(
            f"set {', '.join(missing)} (in .env or the environment; see "
            ".env.example) to reach Snowflake"
        )
    password = settings.snowflake_password
    params: dict[str, Any] = {
        "account": settings.snowflake_account,
        "user": settings.snowflake_user,
        "password": password.get_secret_value() if password else "",
        "role": settings.snowflake_role,
        "warehouse": settings.snowflake_warehouse,
    }
    if settings.snowflake_host:
        params |= {
            "host": settings.snowflake_host,
            "port": settings.snowflake_port,
            "protocol": settings.snowflake_protocol,
        }
    return snowflake.connector.connect(**{k: v for k, v in params.items() if v is not None})
