"""The one seam between Encore and its warehouse: the operations whose SQL differs between
PostgreSQL and Snowflake, behind one interface.

- `load_batch`: a raw batch (and its quarantined rows) replaces its (source, date) batch
  in one transaction: COPY in PostgreSQL, a stage and `COPY INTO` in Snowflake.
- `read_frame` / `iter_frames`: a bulk read (`warehouse.bulk.Select`) as polars frames over
  Arrow: COPY to CSV parsed by pyarrow in PostgreSQL, `fetch_arrow_batches` in Snowflake.
- `write_frame`: a bulk append into a table, in the caller's transaction (JSON text
  columns become jsonb / VARIANT); `appending`: many frames appended as they are made
  (in PostgreSQL spooled, then one COPY sent by a thread from `send()` on, while the
  caller does other work); `delete`: rows by key values and an optional shard.
- `read_sql` / `execute`: SQL both dialects run as written (unquoted lower-case names,
  `%(name)s` parameters); `columns`: a relation's columns, none when it is missing.
- `reader_grants`: what lets the client role read the serving layer and nothing else;
  `prepare`: the warehouse's own tables (Snowflake's DDL; PostgreSQL's come from
  warehouse.bootstrap).

`of(conn)` picks the implementation from the connection's type (a psycopg connection or a
snowflake.connector one) and `data(conn)` the warehouse that holds the data: the only
places that ask. The loaders, ml/ and the checkpoints call the seam; two choose a whole
mechanism by its type, each in one place: ml.publish (PostgreSQL's partitions, or
ml.publish_sets on Snowflake) and quality.checkpoints (great-expectations' SQL source, or
frames). dbt keeps its own cross-database macros (macros/cross_db.sql).
The README's "Running on Snowflake" lists what is verified offline and what is not.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import polars as pl
import psycopg
from psycopg import sql

from config import get_settings
from warehouse import postgres_io, snowflake
from warehouse.bulk import Select, Shard, check_identifiers, rebatch
from warehouse.loader import LoadResult, conform
from warehouse.loader import load_batch as load_postgres_batch
from warehouse.raw_tables import RawTable
from warehouse.serving import READER_ROLE

Replace = Literal["logical_date", "source"]
Params = Mapping[str, Any] | Sequence[Any] | None


class Appender(Protocol):
    """Frames appended to one table (`Warehouse.appending`): called with each; `send()`
    says no more will come, so the rows can travel while the caller works on (not on the
    connection: it may be busy until the block ends)."""

    def __call__(self, frame: pl.DataFrame) -> int: ...

    def send(self) -> None: ...


class Warehouse(Protocol):
    """What the pipeline asks of a warehouse beyond the SQL both dialects share."""

    dialect: str

    def prepare(self) -> None: ...

    def load_batch(
        self,
        frame: pl.DataFrame,
        table: RawTable,
        *,
        source: str,
        logical_date: dt.date,
        rejected: pl.DataFrame | None = None,
        replace: Replace = "logical_date",
    ) -> LoadResult: ...

    def read_frame(self, select: Select) -> pl.DataFrame: ...

    def iter_frames(
        self, select: Select, batch_rows: int, *, streaming: bool = False
    ) -> Generator[pl.DataFrame, None, None]: ...

    def write_frame(
        self, schema: str, table: str, frame: pl.DataFrame, json_columns: Sequence[str] = ()
    ) -> int: ...

    def appending(
        self, schema: str, table: str, columns: Sequence[str]
    ) -> AbstractContextManager[Appender]: ...

    def read_sql(
        self, query: str, params: Params, schema: Mapping[str, pl.DataType] | None = None
    ) -> pl.DataFrame: ...

    def execute(self, statement: str, params: Params = None) -> int: ...

    def delete(
        self, schema: str, table: str, equals: Mapping[str, Any], shard: Shard | None = None
    ) -> int: ...

    def columns(self, schema: str, table: str) -> list[str]: ...

    def reader_grants(self, role: str = READER_ROLE) -> list[str]: ...


@dataclass(frozen=True)
class _WriteEach:
    """An Appender that writes each frame at once."""

    write: Callable[[pl.DataFrame], int]

    def __call__(self, frame: pl.DataFrame) -> int:
        return self.write(frame)

    def send(self) -> None:
        pass


class Postgres:
    """The seam on a psycopg connection (the default warehouse)."""

    dialect = "postgres"

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def prepare(self) -> None:
        """Nothing beyond warehouse.bootstrap, which every run applies to PostgreSQL."""

    def load_batch(
        self,
        frame: pl.DataFrame,
        table: RawTable,
        *,
        source: str,
        logical_date: dt.date,
        rejected: pl.DataFrame | None = None,
        replace: Replace = "logical_date",
    ) -> LoadResult:
        return load_postgres_batch(
            self.conn,
            frame,
            table,
            source=source,
            logical_date=logical_date,
            rejected=rejected,
            replace=replace,
        )

    def read_frame(self, select: Select) -> pl.DataFrame:
        return postgres_io.read_query(self.conn, postgres_io.render(select), select.columns)

    def iter_frames(
        self, select: Select, batch_rows: int, *, streaming: bool = False
    ) -> Generator[pl.DataFrame, None, None]:
        """Spooled first, the connection free between frames; `streaming`: read while the
        frames are used, the connection busy until the last one (postgres_io.iter_query)."""
        return postgres_io.iter_query(
            self.conn,
            postgres_io.render(select),
            select.columns,
            batch_rows,
            streaming=streaming,
        )

    def write_frame(
        self, schema: str, table: str, frame: pl.DataFrame, json_columns: Sequence[str] = ()
    ) -> int:
        """COPY in CSV: JSON text reads into a jsonb column as it is."""
        target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        with self.conn.cursor() as cursor:
            postgres_io.copy_frame(cursor, target, frame.columns, frame)
        return frame.height

    @contextmanager
    def appending(self, schema: str, table: str, columns: Sequence[str]) -> Iterator[Appender]:
        """One COPY for all the frames (postgres_io.appending): spooled until `send()`, no
        other statement on the connection from then until the block ends."""
        target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        with self.conn.cursor() as cursor, postgres_io.appending(cursor, target, columns) as add:
            yield add

    def read_sql(
        self, query: str, params: Params, schema: Mapping[str, pl.DataType] | None = None
    ) -> pl.DataFrame:
        """`query`'s rows with exactly `schema`, or (None) with the types the rows have."""
        if schema is not None:
            return postgres_io.read_query(self.conn, sql.SQL(query), schema, params)
        with self.conn.cursor() as cursor:
            cursor.execute(query, params)
            names = [column.name for column in cursor.description or []]
            rows = cursor.fetchall()
        return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)

    def execute(self, statement: str, params: Params = None) -> int:
        return self.conn.execute(statement, params).rowcount

    def delete(
        self, schema: str, table: str, equals: Mapping[str, Any], shard: Shard | None = None
    ) -> int:
        check_identifiers(schema, table, *equals)
        conditions = [sql.SQL("{} = %s").format(sql.Identifier(name)) for name in equals]
        if shard is not None:
            conditions.append(postgres_io.shard_condition(shard))
        statement = sql.SQL("delete from {}.{} where {}").format(
            sql.Identifier(schema), sql.Identifier(table), sql.SQL(" and ").join(conditions)
        )
        return self.conn.execute(statement, list(equals.values())).rowcount

    def columns(self, schema: str, table: str) -> list[str]:
        rows = self.conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            [schema, table],
        ).fetchall()
        return [name for (name,) in rows]

    def reader_grants(self, role: str = READER_ROLE) -> list[str]:
        return [  # warehouse.serving.ensure_reader_role runs them (with the role's defaults)
            f"grant usage on schema serving to {role}",
            f"grant select on all tables in schema serving to {role}",
            f"alter default privileges in schema serving grant select on tables to {role}",
        ]


class Snowflake:
    """The seam on a snowflake.connector connection; names live in `database` (else the
    connection's database, else SNOWFLAKE_DATABASE)."""

    dialect = "snowflake"

    def __init__(self, conn: Any, database: str | None = None) -> None:
        self.conn = conn
        self.database = (database or conn.database or get_settings().snowflake_database).upper()

    def prepare(self) -> None:
        """Create the database's RAW, RAW_REJECTED, ML and SERVING objects (idempotent:
        warehouse.snowflake.ddl_statements)."""
        cursor = self.conn.cursor()
        for statement in snowflake.ddl_statements(self.database):
            cursor.execute(statement)

    def load_batch(
        self,
        frame: pl.DataFrame,
        table: RawTable,
        *,
        source: str,
        logical_date: dt.date,
        rejected: pl.DataFrame | None = None,
        replace: Replace = "logical_date",
    ) -> LoadResult:
        data = conform(frame, table)
        batch_id = uuid.uuid4()
        cursor = self.conn.cursor()
        loaded = snowflake.load_frame(
            cursor,
            self.database,
            table,
            data,
            source=source,
            logical_date=logical_date,
            batch_id=batch_id,
            rejected=rejected,
            replace=replace,
        )
        return LoadResult(
            table.name,
            source,
            logical_date,
            batch_id,
            loaded,
            -1,  # Snowflake reports no count for the delete inside the batch transaction
            0 if rejected is None else rejected.height,
        )

    def read_frame(self, select: Select) -> pl.DataFrame:
        frames = list(self.iter_frames(select, batch_rows=0))
        return pl.concat(frames) if frames else pl.DataFrame(schema=dict(select.columns))

    def iter_frames(
        self, select: Select, batch_rows: int, *, streaming: bool = False
    ) -> Generator[pl.DataFrame, None, None]:
        """The result's Arrow batches, regrouped into `batch_rows` rows (0: as they come),
        fetched as they are used whatever `streaming` says."""
        batches = snowflake.read_batches(self.conn.cursor(), self.database, select)
        return rebatch(batches, batch_rows)

    def write_frame(
        self, schema: str, table: str, frame: pl.DataFrame, json_columns: Sequence[str] = ()
    ) -> int:
        return snowflake.write_frame(
            self.conn.cursor(), self.database, schema, table, frame, json_columns
        )

    @contextmanager
    def appending(self, schema: str, table: str, columns: Sequence[str]) -> Iterator[Appender]:
        """Each frame staged and copied as it comes (`write_frame`); `send` has nothing
        left to do."""
        yield _WriteEach(lambda frame: self.write_frame(schema, table, frame.select(columns)))

    def read_sql(
        self, query: str, params: Params, schema: Mapping[str, pl.DataType] | None = None
    ) -> pl.DataFrame:
        """`query`'s rows with exactly `schema`, or (None) with the types the rows have and
        lower-case column names."""
        cursor = self.conn.cursor()
        cursor.execute(query, params)
        if schema is None:
            names = [str(column[0]).lower() for column in cursor.description]
            table = cursor.fetch_arrow_all()
            if table is None:  # no rows
                return pl.DataFrame(schema=names)
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            return frame.rename(dict(zip(frame.columns, names, strict=True)))
        frames = list(snowflake.fetch_frames(cursor, schema))
        return pl.concat(frames) if frames else pl.DataFrame(schema=dict(schema))

    def execute(self, statement: str, params: Params = None) -> int:
        cursor = self.conn.cursor()
        cursor.execute(statement, params)
        return int(cursor.rowcount or 0)

    def delete(
        self, schema: str, table: str, equals: Mapping[str, Any], shard: Shard | None = None
    ) -> int:
        check_identifiers(schema, table, *equals)
        conditions = [f"{name} = %s" for name in equals]
        if shard is not None:
            conditions.append(snowflake.shard_condition(shard))
        return self.execute(
            f"delete from {self.database}.{schema}.{table} where "  # noqa: S608
            + " and ".join(conditions),
            list(equals.values()),
        )

    def columns(self, schema: str, table: str) -> list[str]:
        check_identifiers(schema, table)
        cursor = self.conn.cursor()
        cursor.execute(
            f"select column_name from {self.database}.information_schema.columns "  # noqa: S608
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema.upper(), table.upper()),
        )
        return [str(name).lower() for (name,) in cursor.fetchall()]

    def reader_grants(self, role: str = READER_ROLE) -> list[str]:
        return snowflake.reader_grants(self.database, role, get_settings().snowflake_warehouse)


def of(conn: Any) -> Warehouse:
    """The seam for `conn`: the only place that asks which warehouse a connection reaches."""
    if isinstance(conn, psycopg.Connection):
        return Postgres(conn)
    if type(conn).__module__.startswith("snowflake.connector"):
        return Snowflake(conn)
    raise TypeError(f"not a warehouse connection: {type(conn).__name__}")


def data(conn: Any) -> Warehouse:
    """The warehouse that holds the data for a job holding `conn`: `conn`'s own, or, when
    `conn` is the PostgreSQL control database and the Snowflake target is selected
    (DBT_TARGET=snowflake), Snowflake (one connection per process, SNOWFLAKE_* settings).

    Encore's control plane (the model registry, policy decisions, backtests, quality
    results, the tasks' locks) stays in PostgreSQL on every target; the data (raw, marts,
    scores, serving) lives where dbt builds (README, "Running on Snowflake")."""
    if isinstance(conn, psycopg.Connection) and get_settings().dbt_target == "snowflake":
        return Snowflake(_snowflake_connection())
    return of(conn)


def require_postgres(conn: Any, what: str) -> None:
    """Stop with a clear error when `what` (SQL not yet behind the seam) would read the
    control PostgreSQL while the data lives elsewhere: it would see no rows and act on
    that."""
    if not isinstance(data(conn), Postgres):
        raise RuntimeError(
            f"{what} reads PostgreSQL's raw tables and does not run on the Snowflake target "
            "yet (README, 'Running on Snowflake'): unset its keys or use DBT_TARGET=postgres"
        )


_connections: dict[tuple[Any, ...], Any] = {}


def _snowflake_connection() -> Any:
    """The process's Snowflake connection for the current settings (reopened when closed)."""
    settings = get_settings()
    key = tuple(
        str(getattr(settings, name))
        for name in ("snowflake_account", "snowflake_user", "snowflake_host", "snowflake_port")
    )
    conn = _connections.get(key)
    if conn is None or conn.is_closed():
        conn = _connections[key] = snowflake.connect_from_env()
    return conn


def load_batch(
    conn: Any,
    frame: pl.DataFrame,
    table: RawTable,
    *,
    source: str,
    logical_date: dt.date,
    rejected: pl.DataFrame | None = None,
    replace: Replace = "logical_date",
) -> LoadResult:
    """`data(conn).load_batch(...)`: what every source's loader calls."""
    return data(conn).load_batch(
        frame, table, source=source, logical_date=logical_date, rejected=rejected, replace=replace
    )
