"""PostgreSQL's bulk paths: whole relations out as Arrow through COPY, frames in through COPY.

Rows travel as `COPY ... TO STDOUT (FORMAT csv)` parsed by pyarrow straight into Arrow
columns, about 3x faster than fetching Python tuples (docs/benchmarks.md); writes are
`COPY ... FROM STDIN` in CSV chunks. `warehouse.seam` offers both as the PostgreSQL side of
its interface.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

import polars as pl
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from warehouse import copy_binary
from warehouse.bulk import Select, Shard, rebatch

# Strings are always quoted and NULL is the unquoted empty field, so an empty string, a
# literal "\N" and NULL all survive COPY as themselves.
NULL_MARKER = ""
SEND_BLOCK_BYTES = 1 << 20  # blocks of a spooled COPY, and the buffers of a streamed read

_PG_TYPES: Mapping[type[pl.DataType], str] = {
    pl.Float64: "double precision",
    pl.Int32: "integer",
    pl.Int64: "bigint",
    pl.String: "text",
    pl.Datetime: "timestamptz",
}
_ARROW_TYPES: Mapping[type[pl.DataType], pa.DataType] = {
    pl.Float64: pa.float64(),
    pl.Int32: pa.int32(),
    pl.Int64: pa.int64(),
    pl.String: pa.string(),
    pl.Datetime: pa.int64(),  # epoch microseconds (see _copy_out)
}


def render(select: Select) -> sql.Composed:
    """`select` as PostgreSQL: each column cast to its declared type; a shard is
    `mod(abs(hashtext(column)::bigint), count) = index` (hashtext is int4: abs goes
    through bigint, as abs of -2^31 overflows int4), its integers composed as literals
    (COPY takes no parameters)."""
    columns = [
        sql.SQL("{}::{} as {}").format(
            sql.Identifier(name), sql.SQL(_PG_TYPES[dtype.base_type()]), sql.Identifier(name)
        )
        for name, dtype in select.columns.items()
    ]
    query = sql.SQL("select {} from {}.{}").format(
        sql.SQL(", ").join(columns), sql.Identifier(select.schema), sql.Identifier(select.table)
    )
    conditions = [sql.SQL("{} is not null").format(sql.Identifier(c)) for c in select.not_null]
    if select.shard is not None:
        conditions.append(shard_condition(select.shard))
    if conditions:
        query = sql.SQL("{} where {}").format(query, sql.SQL(" and ").join(conditions))
    if select.order_by:
        query = sql.SQL("{} order by {}").format(
            query, sql.SQL(", ").join(map(sql.Identifier, select.order_by))
        )
    return query


def shard_condition(shard: Shard) -> sql.Composed:
    """The rows of one shard (see `render`)."""
    return sql.SQL("mod(abs(hashtext({})::bigint), {}) = {}").format(
        sql.Identifier(shard.column), sql.Literal(int(shard.count)), sql.Literal(int(shard.index))
    )


def read_query(
    conn: psycopg.Connection,
    query: sql.Composable,
    schema: Mapping[str, pl.DataType],
    params: Sequence[Any] | Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """Run `query` and return all rows as a frame with exactly `schema`."""
    spool = io.BytesIO()
    _copy_out(conn, query, schema, params, spool)
    if not spool.getbuffer().nbytes:
        return pl.DataFrame(schema=dict(schema))
    spool.seek(0)
    return _frame(pacsv.read_csv(spool, **_csv_options(schema)), schema)


def iter_query(
    conn: psycopg.Connection,
    query: sql.Composable,
    schema: Mapping[str, pl.DataType],
    batch_rows: int,
    *,
    streaming: bool = False,
) -> Generator[pl.DataFrame, None, None]:
    """`query`'s rows as frames of `batch_rows` rows (the last one shorter).

    The rows are spooled to a temporary file before this returns, so memory stays bounded
    however many rows the relation holds, and the connection is free for other statements
    (a COPY of the results) while the frames are read. `streaming`: the frames come while
    a thread still reads the rows (the server produces the next ones while the caller
    works), and the connection is busy until the last frame is out.
    """
    if streaming:
        return _streamed_frames(conn, query, schema, batch_rows)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the frames it feeds)
    try:
        _copy_out(conn, query, schema, None, spool)
    except BaseException:
        spool.close()
        raise
    return _spooled_frames(spool, schema, batch_rows)


def _spooled_frames(
    spool: IO[bytes], schema: Mapping[str, pl.DataType], batch_rows: int
) -> Generator[pl.DataFrame, None, None]:
    with spool:
        if not spool.tell():
            return
        spool.seek(0)
        yield from _parsed_frames(spool, schema, batch_rows)


def _parsed_frames(
    rows: IO[bytes], schema: Mapping[str, pl.DataType], batch_rows: int
) -> Generator[pl.DataFrame, None, None]:
    """COPY's CSV from `rows`, parsed by pyarrow as it is read, in frames of `batch_rows`."""
    batches = pacsv.open_csv(rows, **_csv_options(schema))
    yield from rebatch((_frame(batch, schema) for batch in batches), batch_rows)


def _streamed_frames(
    conn: psycopg.Connection,
    query: sql.Composable,
    schema: Mapping[str, pl.DataType],
    batch_rows: int,
) -> Generator[pl.DataFrame, None, None]:
    """`iter_query(streaming=True)`: a thread COPYs the rows into a pipe that pyarrow
    parses; its error, if any, is raised after the rows it did deliver."""
    read_end, write_end = os.pipe()
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with io.BufferedWriter(io.FileIO(write_end, "w"), SEND_BLOCK_BYTES) as pipe:
                _copy_out(conn, query, schema, None, pipe)
        except BaseException as exc:  # BrokenPipeError when the reader stopped early
            errors.append(exc)

    thread = threading.Thread(target=produce, name="copy-out", daemon=True)
    with io.BufferedReader(io.FileIO(read_end, "r"), SEND_BLOCK_BYTES) as rows:
        thread.start()
        try:
            if rows.peek(1):
                yield from _parsed_frames(rows, schema, batch_rows)
        except Exception as exc:  # rows cut short by the thread's error: that error
            rows.close()
            thread.join()
            if errors and not isinstance(errors[0], BrokenPipeError):
                raise errors[0] from exc
            raise
        finally:
            rows.close()  # a reader stopping early ends the thread's writes
            thread.join()
    if errors:
        raise errors[0]


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """`frame` as the CSV that `copy_frame`'s COPY reads."""
    buffer = io.BytesIO()
    frame.write_csv(
        buffer,
        include_header=False,
        null_value=NULL_MARKER,
        quote_style="non_numeric",
        datetime_format="%Y-%m-%dT%H:%M:%S%.6f%z",
        date_format="%Y-%m-%d",
    )
    return buffer.getvalue()


def copy_statement(target: sql.Composable, columns: Sequence[str]) -> sql.Composed:
    """The COPY that reads `csv_bytes` of frames with `columns` into `target`."""
    return sql.SQL("copy {} ({}) from stdin with (format csv, null {})").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Literal(NULL_MARKER)
    )


class SpooledCopy:
    """Frames bound for one COPY into a table (`appending`): each is encoded into a
    temporary file as it comes, and `send()` starts the COPY in a thread, so the caller's
    next work (not on the connection) overlaps the server taking the rows in."""

    def __init__(self, cursor: psycopg.Cursor, target: sql.Composable, columns: Sequence[str]):
        self._cursor = cursor
        self._columns = list(columns)
        self._statement = copy_statement(target, columns)
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by finish / abandon)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __call__(self, frame: pl.DataFrame) -> int:
        """Spool `frame`'s rows (its `columns`, in order); returns how many."""
        if self._thread is not None:
            raise RuntimeError("the rows are being sent: nothing more can be appended")
        self._spool.write(csv_bytes(frame.select(self._columns)))
        return frame.height

    def send(self) -> None:
        """Start the COPY of everything spooled; the connection is busy until `finish`."""
        if self._thread is None:
            self._spool.seek(0)
            self._thread = threading.Thread(target=self._copy, name="copy-in", daemon=True)
            self._thread.start()

    def _copy(self) -> None:
        try:
            with self._cursor.copy(self._statement) as copy:
                while block := self._spool.read(SEND_BLOCK_BYTES):
                    copy.write(block)
        except BaseException as exc:  # raised again by finish()
            self._error = exc

    def finish(self) -> None:
        """Send (unless started) and wait until the server has every row."""
        self.send()
        self._close()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """Wait for a COPY under way to end (its error is the caller's to ignore: the
        transaction rolls back) and drop the spool."""
        self._close()

    def _close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self._spool.close()


@contextmanager
def appending(
    cursor: psycopg.Cursor, target: sql.Composable, columns: Sequence[str]
) -> Iterator[SpooledCopy]:
    """One COPY into `target` for many frames (their `columns`, in order), spooled as they
    come and sent from `send()` on (`SpooledCopy`); all rows are in when the block ends."""
    spool = SpooledCopy(cursor, target, columns)
    try:
        yield spool
    except BaseException:
        spool.abandon()
        raise
    spool.finish()


def copy_frame(
    cursor: psycopg.Cursor,
    target: sql.Composable,
    columns: list[str],
    frame: pl.DataFrame,
    chunk_rows: int = 200_000,
    on_chunk: Callable[[int], None] | None = None,
) -> None:
    """COPY `frame` in CSV chunks; `on_chunk(rows)` after each (progress, not per row)."""
    with cursor.copy(copy_statement(target, columns)) as copy:
        for offset in range(0, frame.height, chunk_rows):
            chunk = frame.slice(offset, chunk_rows)
            copy.write(csv_bytes(chunk))
            if on_chunk is not None:
                on_chunk(chunk.height)


def binary_copy_statement(target: sql.Composable, columns: Sequence[str]) -> sql.Composed:
    """The COPY that reads `warehouse.copy_binary`'s stream with `columns` into `target`."""
    return sql.SQL("copy {} ({}) from stdin with (format binary)").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def copy_frame_binary(
    cursor: psycopg.Cursor,
    target: sql.Composable,
    columns: Sequence[str],
    pg_types: Sequence[str],
    frame: pl.DataFrame,
    constants: copy_binary.Constants | None = None,
    chunk_rows: int = 50_000,
    on_chunk: Callable[[int], None] | None = None,
) -> None:
    """COPY `frame` (its `columns`, of the declared `pg_types`) in binary chunks
    (`warehouse.copy_binary`); `constants` fill further columns with the same values in
    every row, such as a batch's id. Chunks are small, so the server starts early: only the
    first one's encoding is not overlapped."""
    names = [*columns, *(constants.row.columns if constants is not None else ())]
    # a thread sends each chunk while the next one is encoded (Arrow and numpy let go of
    # the GIL), so the server's work and the encoding overlap on two cores
    with cursor.copy(
        binary_copy_statement(target, names), writer=QueuedLibpqWriter(cursor)
    ) as copy:
        copy.write(copy_binary.SIGNATURE)
        for offset in range(0, frame.height, chunk_rows):
            chunk = frame.slice(offset, chunk_rows).select(columns)
            copy.write(copy_binary.encode_rows(chunk, pg_types, constants))
            if on_chunk is not None:
                on_chunk(chunk.height)
        copy.write(copy_binary.TRAILER)


def _copy_out(
    conn: psycopg.Connection,
    query: sql.Composable,
    schema: Mapping[str, pl.DataType],
    params: Sequence[Any] | Mapping[str, Any] | None,
    into: IO[bytes],
) -> None:
    """COPY `query`'s rows to `into` as CSV (psycopg merges `params` client-side, quoted:
    COPY takes no server-side parameters); timestamps travel as epoch microseconds, so the
    text needs no time-zone parsing."""
    columns = [
        sql.SQL("cast(date_part('epoch', {0}) * 1000000 as bigint) as {0}").format(
            sql.Identifier(name)
        )
        if isinstance(dtype, pl.Datetime)
        else sql.Identifier(name)
        for name, dtype in schema.items()
    ]
    copy = sql.SQL("copy (select {} from ({}) as rows) to stdout (format csv)").format(
        sql.SQL(", ").join(columns), query
    )
    with conn.cursor() as cur, cur.copy(copy, params) as out:
        for block in out:
            into.write(block)


def _csv_options(schema: Mapping[str, pl.DataType]) -> dict[str, Any]:
    """PostgreSQL's CSV: NULL is an empty unquoted field, an empty string is quoted, and a
    quoted value may hold a newline."""
    return {
        "read_options": pacsv.ReadOptions(column_names=list(schema)),
        "parse_options": pacsv.ParseOptions(newlines_in_values=True),
        "convert_options": pacsv.ConvertOptions(
            column_types={name: _ARROW_TYPES[dtype.base_type()] for name, dtype in schema.items()},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        ),
    }


def _frame(rows: pa.Table | pa.RecordBatch, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    frame = pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        pl.from_epoch(name, time_unit="us").dt.replace_time_zone(dtype.time_zone)
        for name, dtype in schema.items()
        if isinstance(dtype, pl.Datetime)
    ).cast(pl.Schema(schema))
