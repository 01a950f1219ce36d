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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import polars as pl

from config import get_settings
from warehouse.bulk import Select, Shard, check_identifiers
from warehouse.landing import read_landed
from warehouse.raw_tables import BATCH_COLUMNS, RAW_TABLES, RawTable
from warehouse.snowflake_serving import reader_grants as serving_grants
from warehouse.snowflake_serving import serving_statements

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

# The ML job's own tables (PostgreSQL's are created by warehouse/bootstrap.py and ml/).
ML_TABLES: dict[str, str] = {
    "SCORES": (
        "model_version varchar not null, user_id varchar not null, track_key varchar not null, "
        "candidate_source varchar, score double not null, scored_at timestamp_tz not null, "
        "reason varchar, reason_features variant"
    ),
}

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
    statements.append(f"create schema if not exists {database}.ML")
    statements += [
        f"create table if not exists {database}.ML.{name} ({columns})"
        for name, columns in ML_TABLES.items()
    ]
    statements += serving_statements(database)
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
    replace: Literal["logical_date", "source"] = "logical_date",
) -> int:
    """Replace the (source, logical date) batch of RAW.<table> with `frame` (every batch of
    the source with `replace="source"`), and its quarantined rows in RAW_REJECTED.ROWS with
    `rejected` (any columns plus `_reason`, as the PostgreSQL loader takes them); rows
    loaded.

    The same batch semantics as the PostgreSQL loader (warehouse/loader.py): the batch's
    previous rows are deleted and the new ones copied in one transaction, so a rerun of a
    date replaces rather than duplicates. The rows travel as Parquet through the internal
    stage RAW.LOADS (`stage_frame`).
    """
    _check_identifier(database)
    name = f"{database}.RAW.{table.name.upper()}"  # identifiers from raw_tables.py only
    batch = str(batch_id or uuid.uuid4())
    batch_columns = [
        pl.lit(batch).alias("_batch_id"),
        pl.lit(source).alias("_source"),
        pl.lit(dt.datetime.now(dt.UTC)).alias("_loaded_at"),
        pl.lit(logical_date).alias("_logical_date"),
    ]
    rows = frame.select(table.column_names).with_columns(batch_columns)
    quarantined = _quarantine_rows(table, rejected).with_columns(batch_columns)
    staged = stage_frame(cursor, database, rows)
    staged_rejected = stage_frame(cursor, database, quarantined)
    batch_filter, params = (
        ("_source = %s", [source])
        if replace == "source"
        else ("_source = %s and _logical_date = %s", [source, logical_date])
    )
    cursor.execute("begin")
    try:
        cursor.execute(f"delete from {name} where {batch_filter}", params)  # noqa: S608
        cursor.execute(
            f"delete from {database}.RAW_REJECTED.ROWS "  # noqa: S608
            f"where table_name = %s and {batch_filter}",
            [table.name, *params],
        )
        copy_staged(cursor, name, staged)
        if staged_rejected:  # `record` parsed: a JSON object, as jsonb in PostgreSQL
            cursor.execute(
                f"copy into {database}.RAW_REJECTED.ROWS ({', '.join(REJECTED_SOURCE)}) "  # noqa: S608
                f"from (select {', '.join(REJECTED_SOURCE.values())} from @{staged_rejected}) "
                "file_format = (type = parquet) purge = true"
            )
        cursor.execute("commit")
    except Exception:
        cursor.execute("rollback")
        raise
    return frame.height


def stage_frame(cursor: Any, database: str, frame: pl.DataFrame) -> str | None:
    """PUT `frame` as one Parquet file under a fresh folder of the stage RAW.LOADS; returns
    the folder (`DB.RAW.LOADS/<uuid>/`) for `copy_staged`, or None for an empty frame.

    Each folder is new, so a rerun never meets Snowflake's "already loaded" file history;
    the COPY purges the file once it is in.
    """
    if frame.height == 0:
        return None
    folder = f"{database}.RAW.{LOAD_STAGE}/{uuid.uuid4()}/"
    with tempfile.TemporaryDirectory(prefix="encore-snowflake-") as scratch:
        path = Path(scratch) / f"{uuid.uuid4()}.parquet"  # fakesnow keys files by name
        frame.write_parquet(path)
        cursor.execute(f"put 'file://{path}' @{folder} auto_compress=false")
    return folder


def copy_staged(cursor: Any, target: str, folder: str | None) -> None:
    """COPY a staged folder into `target` (`DB.SCHEMA.TABLE`, from code), columns matched by
    name; nothing for an empty frame's None."""
    if folder is not None:
        cursor.execute(
            f"copy into {target} from @{folder} file_format = (type = parquet) "
            "match_by_column_name = case_insensitive purge = true"
        )


def write_frame(
    cursor: Any,
    database: str,
    schema: str,
    table: str,
    frame: pl.DataFrame,
    json_columns: Sequence[str] = (),
) -> int:
    """Append `frame` to DB.SCHEMA.TABLE (names from code) through the stage, in the
    caller's transaction; `json_columns` hold JSON text, parsed into VARIANT (through a
    scratch table, whose DDL Snowflake commits). Rows written."""
    _check_identifier(database)
    target = f"{database}.{schema}.{table}".upper()
    folder = stage_frame(cursor, database, frame)
    if not json_columns or folder is None:
        copy_staged(cursor, target, folder)
        return frame.height
    check_identifiers(schema, table, *frame.columns)
    # staged into a scratch table of its own (a unique name: shards write side by side),
    # then inserted with the JSON parsed
    scratch = f"{database}.{schema}._WRITE_{table}_{uuid.uuid4().hex}".upper()
    types = {
        name: "varchar" if name in json_columns else _SNOWFLAKE_CASTS[dtype.base_type()]
        for name, dtype in frame.schema.items()
    }
    cursor.execute(
        f"create transient table {scratch} ({', '.join(f'{n} {t}' for n, t in types.items())})"
    )
    try:
        copy_staged(cursor, scratch, folder)
        values = [f"parse_json({name})" if name in json_columns else name for name in types]
        cursor.execute(
            f"insert into {target} ({', '.join(types)}) "  # noqa: S608
            f"select {', '.join(values)} from {scratch}"
        )
    finally:
        cursor.execute(f"drop table if exists {scratch}")
    return frame.height


_SNOWFLAKE_CASTS: dict[type[pl.DataType], str] = {
    pl.Float64: "double",
    pl.Int32: "integer",
    pl.Int64: "bigint",
    pl.String: "varchar",
    pl.Datetime: "timestamp_tz",
}


def render(database: str, select: Select) -> str:
    """`select` as Snowflake SQL: unquoted (upper-case) names, each column cast to its type;
    a shard is `mod(abs(hash(column)), count) = index`. Every name was checked as a plain
    identifier (warehouse.bulk), the shard's integers are ints."""
    _check_identifier(database)
    columns = ", ".join(
        f"{name}::{_SNOWFLAKE_CASTS[dtype.base_type()]} as {name}"
        for name, dtype in select.columns.items()
    )
    query = f"select {columns} from {database}.{select.schema}.{select.table}"  # noqa: S608
    conditions = [f"{name} is not null" for name in select.not_null]
    if select.shard is not None:
        conditions.append(shard_condition(select.shard))
    if conditions:
        query += " where " + " and ".join(conditions)
    if select.order_by:
        query += " order by " + ", ".join(select.order_by)
    return query


def shard_condition(shard: Shard) -> str:
    """The rows of one shard (see `render`); the column was checked, the integers are ints."""
    return f"mod(abs(hash({shard.column})), {int(shard.count)}) = {int(shard.index)}"


def read_batches(cursor: Any, database: str, select: Select) -> Iterator[pl.DataFrame]:
    """`select`'s rows as frames with exactly its schema, one per Arrow result batch
    (`fetch_arrow_batches`: the result's chunks, never the whole result in memory)."""
    cursor.execute(render(database, select))
    return fetch_frames(cursor, select.columns)


def fetch_frames(cursor: Any, schema: Mapping[str, pl.DataType]) -> Iterator[pl.DataFrame]:
    """An executed cursor's rows as frames with exactly `schema` (its columns in order)."""
    names = list(schema)
    for batch in cursor.fetch_arrow_batches():
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        yield _conform_read(frame.rename(dict(zip(frame.columns, names, strict=True))), schema)


def _conform_read(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Snowflake's Arrow types to the declared ones; a timestamp that arrives without a time
    zone is taken as UTC."""
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Datetime):
            column = frame.get_column(name)
            if getattr(column.dtype, "time_zone", None) is None:
                column = column.dt.replace_time_zone("UTC")
            frame = frame.with_columns(
                column.dt.convert_time_zone(dtype.time_zone)
                if dtype.time_zone
                else column.dt.replace_time_zone(None)
            )
    return frame.cast(pl.Schema(dict(schema)))


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
        "database": settings.snowflake_database,
    }
    if settings.snowflake_host:
        params |= {
            "host": settings.snowflake_host,
            "port": settings.snowflake_port,
            "protocol": settings.snowflake_protocol,
        }
    return snowflake.connector.connect(**{k: v for k, v in params.items() if v is not None})


def reader_grants(database: str, role: str, warehouse: str | None = None) -> list[str]:
    """The client role's grants (warehouse/snowflake_serving.py), with USAGE on the virtual
    `warehouse` its queries run on; printed by `python -m warehouse snowflake-grants`."""
    for name in (database, role, warehouse or "x"):
        _check_identifier(name)
    grants = serving_grants(database, role)
    if warehouse:
        grants.append(f"grant usage on warehouse {warehouse} to role {role}")
    return grants
