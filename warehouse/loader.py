"""Load polars frames into `raw.*` with binary COPY, one transaction per batch.

A batch is identified by (table, source, logical date). Loading it deletes whatever that
batch held before and copies the new rows in the same transaction, so a rerun replaces
rather than duplicates, and a run killed half way leaves the previous batch intact.
Snapshot sources (each run delivers the whole dataset, like the synthetic world) replace
every batch of their source instead (`replace="source"`), by TRUNCATE when their table
holds nothing else.
Rows that a source could not parse go to `raw_rejected.rows` with their reason, in the
same transaction, so every input row ends up loaded or quarantined.

PostgreSQL text (and jsonb) cannot hold the NUL character. Sources quarantine rows that
carry one; should a frame still hold one, COPY fails, the transaction rolls back (the
previous batch stays) and the error gets a note naming the columns. In quarantined
records, which exist to show what arrived, a NUL is replaced by U+FFFD, so one bad row
cannot fail its whole batch.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Literal

import polars as pl
import psycopg
from psycopg import sql

from observability.progress import progress
from warehouse.copy_binary import Constants
from warehouse.postgres_io import copy_frame, copy_frame_binary
from warehouse.raw_tables import BATCH_COLUMNS, RAW_SCHEMA, RawTable

log = logging.getLogger(__name__)

NUL = "\x00"
NUL_STANDIN = "\ufffd"
# how long a snapshot load waits for its table's exclusive lock before it deletes instead
TRUNCATE_LOCK_TIMEOUT = "2s"


class SchemaMismatch(ValueError):
    """The frame does not carry exactly the table's declared columns and types."""


@dataclass(frozen=True)
class LoadResult:
    table: str
    source: str
    logical_date: dt.date
    batch_id: uuid.UUID
    rows_loaded: int
    rows_replaced: int
    rows_rejected: int


def conform(frame: pl.DataFrame, table: RawTable) -> pl.DataFrame:
    """Select the table's columns in order, casting where it is lossless; else raise."""
    missing = [name for name in table.column_names if name not in frame.columns]
    extra = [name for name in frame.columns if name not in table.column_names]
    if missing or extra:
        raise SchemaMismatch(
            f"raw.{table.name}: frame columns differ from the declaration in "
            f"warehouse/raw_tables.py (missing {missing}, unexpected {extra})"
        )
    try:
        return frame.select(
            pl.col(name).cast(dtype, strict=True) for name, dtype in table.polars_schema.items()
        )
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        raise SchemaMismatch(f"raw.{table.name}: a column cannot be cast: {exc}") from exc


def batch_constants(batch_id: str, source: str, logical_date: dt.date) -> Constants:
    """The batch columns every row of a batch carries, encoded once for the COPY."""
    row = pl.DataFrame(
        {"_batch_id": [batch_id], "_source": [source], "_logical_date": [logical_date]}
    )
    types = dict(BATCH_COLUMNS)
    return Constants.of(row, [types[name] for name in row.columns])


def nul_counts(frame: pl.DataFrame) -> dict[str, int]:
    """Text columns holding NUL characters, with how many values do."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text:
        return {}
    counts = frame.select(pl.col(text).str.contains(NUL, literal=True).sum()).row(0, named=True)
    return {name: count for name, count in counts.items() if count}


def load_batch(
    conn: psycopg.Connection,
    frame: pl.DataFrame,
    table: RawTable,
    *,
    source: str,
    logical_date: dt.date,
    rejected: pl.DataFrame | None = None,
    replace: Literal["logical_date", "source"] = "logical_date",
) -> LoadResult:
    """Replace the (table, source, logical_date) batch with `frame`, atomically.

    With `replace="source"` every earlier batch of the source is replaced: for snapshot
    sources, whose each delivery supersedes the previous ones.

    `rejected` holds rows that failed parsing or checks: any columns plus a `_reason`
    column; they are kept as JSON in `raw_rejected.rows` so nothing is dropped silently.
    """
    data = conform(frame, table)
    batch_id = uuid.uuid4()
    try:
        replaced, n_rejected = _replace_batch(
            conn, data, table, source, logical_date, batch_id, rejected, replace
        )
    except psycopg.DataError as exc:
        bad = nul_counts(data)
        if bad:
            exc.add_note(
                f"raw.{table.name}: {bad} values hold a NUL character, which "
                "PostgreSQL text cannot store: the source must quarantine such rows "
                "(nothing was loaded; the previous batch is unchanged)"
            )
        raise
    result = LoadResult(
        table.name, source, logical_date, batch_id, data.height, replaced, n_rejected
    )
    log.info(
        "loaded raw.%s source=%s logical_date=%s rows=%d replaced=%d rejected=%d",
        table.name,
        source,
        logical_date,
        data.height,
        replaced,
        n_rejected,
    )
    return result


def _replace_batch(
    conn: psycopg.Connection,
    data: pl.DataFrame,
    table: RawTable,
    source: str,
    logical_date: dt.date,
    batch_id: uuid.UUID,
    rejected: pl.DataFrame | None,
    replace: Literal["logical_date", "source"],
) -> tuple[int, int]:
    """Remove what the batch replaces and COPY the new rows, in one transaction."""
    target = sql.SQL("{}.{}").format(sql.Identifier(RAW_SCHEMA), sql.Identifier(table.name))
    with conn.transaction(), conn.cursor() as cursor:
        replaced = (
            _truncate_if_sole_source(cursor, target, source)
            if replace == "source" and table.snapshot
            else None
        )
        if replaced is None:
            if replace == "source":
                cursor.execute(
                    sql.SQL("delete from {} where _source = %s").format(target), [source]
                )
            else:
                cursor.execute(
                    sql.SQL("delete from {} where _source = %s and _logical_date = %s").format(
                        target
                    ),
                    [source, logical_date],
                )
            replaced = cursor.rowcount
        with progress(f"COPY raw.{table.name}", total=data.height) as bar:
            copy_frame_binary(
                cursor,
                target,
                data.columns,
                [pg_type for _, pg_type in table.columns],
                data,
                constants=batch_constants(str(batch_id), source, logical_date),
                on_chunk=bar.advance,
            )
        n_rejected = _quarantine(cursor, table, source, logical_date, batch_id, rejected, replace)
    return replaced, n_rejected


def _truncate_if_sole_source(
    cursor: psycopg.Cursor, target: sql.Composable, source: str
) -> int | None:
    """Empty a snapshot table with TRUNCATE when every row in it is `source`'s; returns the
    rows it held, or None (nothing done) when another source has rows there or the table's
    lock is not granted within `TRUNCATE_LOCK_TIMEOUT` (a reader holds it): the caller then
    deletes the source's rows instead. TRUNCATE is transactional (a failed load restores
    the rows) and leaves no dead rows behind: a reload of a 1M-play world COPYs into an
    empty file instead of after a million dead tuples (docs/benchmarks.md)."""
    try:
        with cursor.connection.transaction():  # a savepoint: a timeout undoes only this
            cursor.execute(
                sql.SQL("set local lock_timeout = {}").format(sql.Literal(TRUNCATE_LOCK_TIMEOUT))
            )
            cursor.execute(sql.SQL("lock table {} in access exclusive mode").format(target))
            cursor.execute("set local lock_timeout = default")
            held = cursor.execute(
                sql.SQL(
                    "select count(*), count(*) filter (where _source is distinct from %s) from {}"
                ).format(target),
                [source],
            ).fetchone()
    except psycopg.errors.LockNotAvailable:
        log.info(
            "%s is in use: its source's rows are deleted, not truncated",
            target.as_string(cursor.connection),
        )
        return None
    assert held is not None
    rows, others = held
    if others:
        return None
    if rows:  # an empty table needs no new file
        cursor.execute(sql.SQL("truncate {}").format(target))
    return int(rows)


def _quarantine(
    cursor: psycopg.Cursor,
    table: RawTable,
    source: str,
    logical_date: dt.date,
    batch_id: uuid.UUID,
    rejected: pl.DataFrame | None,
    replace: Literal["logical_date", "source"],
) -> int:
    """Replace the quarantined rows of what the batch replaces; returns how many were written."""
    if replace == "source":
        cursor.execute(
            "delete from raw_rejected.rows where table_name = %s and _source = %s",
            [table.name, source],
        )
    else:
        cursor.execute(
            "delete from raw_rejected.rows where table_name = %s and _source = %s "
            "and _logical_date = %s",
            [table.name, source, logical_date],
        )
    if rejected is None or rejected.height == 0:
        return 0
    if "_reason" not in rejected.columns:
        raise SchemaMismatch("rejected rows need a `_reason` column")
    records = (
        rejected.drop("_reason")
        .cast(pl.String)
        .with_columns(pl.all().str.replace_all(NUL, NUL_STANDIN, literal=True))
        .to_dicts()
    )
    rows = pl.DataFrame(
        {
            "_batch_id": [str(batch_id)] * rejected.height,
            "_source": [source] * rejected.height,
            "_logical_date": [logical_date] * rejected.height,
            "table_name": [table.name] * rejected.height,
            "_reason": rejected["_reason"]
            .cast(pl.String)
            .str.replace_all(NUL, NUL_STANDIN, literal=True),
            "record": [json.dumps(record, ensure_ascii=False) for record in records],
        }
    )
    copy_frame(cursor, sql.SQL("raw_rejected.rows"), rows.columns, rows)
    return rejected.height
