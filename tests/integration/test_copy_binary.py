"""The binary COPY encoder against the real server: every type the raw tables declare
arrives as the CSV COPY stores it (NULLs in every column, the empty string, quotes and
newlines, non-ASCII text, NaN and infinities, dates and timestamps on both sides of
PostgreSQL's 2000 epoch and of 1970, integer bounds, jsonb), constant columns fill every
row, chunks join into one stream, and what the server refuses (NUL in text, an integer
column fed 64 bits) fails the COPY."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import polars as pl
import psycopg
import pytest
from psycopg import sql

from warehouse.copy_binary import Constants
from warehouse.postgres_io import copy_frame, copy_frame_binary

TYPES = {
    "n": "integer",
    "big": "bigint",
    "value": "double precision",
    "flag": "boolean",
    "day": "date",
    "at": "timestamptz",
    "name": "text",
    "doc": "jsonb",
}
FRAME = pl.DataFrame(
    {
        "n": [1, None, -2147483648, 2147483647, 0],
        "big": [2**62, -(2**63), None, 0, 7],
        "value": [0.1, math.nan, math.inf, -math.inf, None],
        "flag": [True, False, None, True, False],
        "day": [date(2026, 1, 2), date(1999, 12, 31), date(1900, 3, 1), None, date(1970, 1, 1)],
        "at": [
            datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            None,
            datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
            datetime(2000, 1, 1, tzinfo=UTC),
        ],
        "name": ["plain", "", None, 'it\'s, "quoted"\ntwo lines', "ünïcode ♫"],
        "doc": ['{"a": 1}', None, "[]", '{"ü": "x\\ny"}', '"text"'],
    },
    schema={
        "n": pl.Int32,
        "big": pl.Int64,
        "value": pl.Float64,
        "flag": pl.Boolean,
        "day": pl.Date,
        "at": pl.Datetime("us", "UTC"),
        "name": pl.String,
        "doc": pl.String,
    },
)
BATCH = pl.DataFrame(
    {
        "batch_id": ["6f1c2a9e-0000-4000-8000-00000000000a"],
        "source": ["bench"],
        "logical_date": [date(2026, 12, 6)],
    }
)
BATCH_TYPES = ["uuid not null", "text not null", "date not null"]


@pytest.fixture
def tables(conn: psycopg.Connection) -> tuple[sql.Composable, sql.Composable]:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type))
        for name, pg_type in {
            "id": "bigserial",
            **TYPES,
            "batch_id": "uuid",
            "source": "text",
            "logical_date": "date",
        }.items()
    )
    names = (sql.Identifier("copy_csv"), sql.Identifier("copy_binary"))
    for name in names:
        conn.execute(sql.SQL("create temporary table {} ({})").format(name, columns))
    return names


def _rows(conn: psycopg.Connection, table: sql.Composable) -> list[tuple[object, ...]]:
    return conn.execute(sql.SQL("select * from {} order by id").format(table)).fetchall()


def test_every_type_arrives_as_the_csv_copy_stores_it(
    conn: psycopg.Connection, tables: tuple[sql.Composable, sql.Composable]
) -> None:
    csv_table, binary_table = tables
    batch_columns = list(BATCH.columns)
    with conn.cursor() as cursor:
        copy_frame(
            cursor,
            csv_table,
            [*TYPES, *batch_columns],
            FRAME.with_columns(
                pl.lit(value).alias(name) for name, value in BATCH.row(0, named=True).items()
            ),
        )
        copy_frame_binary(
            cursor,
            binary_table,
            list(TYPES),
            list(TYPES.values()),
            FRAME,
            constants=Constants.of(BATCH, BATCH_TYPES),
            chunk_rows=2,  # three chunks in one stream
        )
    binary_rows = _rows(conn, binary_table)
    assert len(binary_rows) == FRAME.height
    # NaN is not equal to itself: compare the rows' text
    assert [tuple(map(repr, row)) for row in binary_rows] == [
        tuple(map(repr, row)) for row in _rows(conn, csv_table)
    ]
    first = binary_rows[0]
    assert first[1:4] == (1, 2**62, 0.1)
    assert first[5:9] == (
        date(2026, 1, 2),
        datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "plain",
        {"a": 1},
    )
    assert str(first[9]) == "6f1c2a9e-0000-4000-8000-00000000000a"
    assert [row[7] for row in binary_rows] == FRAME["name"].to_list()
    nulls = conn.execute(
        sql.SQL("select {} from {}").format(
            sql.SQL(", ").join(
                sql.SQL("count(*) filter (where {} is null)").format(sql.Identifier(name))
                for name in TYPES
            ),
            binary_table,
        )
    ).fetchone()
    assert nulls == (1,) * len(TYPES)


def test_an_empty_frame_copies_nothing(
    conn: psycopg.Connection, tables: tuple[sql.Composable, sql.Composable]
) -> None:
    _, binary_table = tables
    with conn.cursor() as cursor:
        copy_frame_binary(cursor, binary_table, list(TYPES), list(TYPES.values()), FRAME.clear())
    assert _rows(conn, binary_table) == []


def test_what_the_server_refuses_fails_the_copy(
    conn: psycopg.Connection, tables: tuple[sql.Composable, sql.Composable]
) -> None:
    _, binary_table = tables
    with (
        pytest.raises(psycopg.DataError, match="0x00"),
        conn.transaction(),
        conn.cursor() as cursor,
    ):
        copy_frame_binary(
            cursor, binary_table, ["name"], ["text"], pl.DataFrame({"name": ["a\x00b"]})
        )
    with (
        pytest.raises(psycopg.errors.InvalidBinaryRepresentation),
        conn.transaction(),
        conn.cursor() as cursor,
    ):
        copy_frame_binary(
            cursor,
            binary_table,
            ["n"],
            ["bigint"],
            pl.DataFrame({"n": [1]}, schema={"n": pl.Int64}),
        )
    assert _rows(conn, binary_table) == []


def test_an_unknown_type_is_refused_before_any_copy() -> None:
    from warehouse.copy_binary import encode_rows

    with pytest.raises(ValueError, match="no binary COPY encoding"):
        encode_rows(pl.DataFrame({"x": [1.0]}), ["numeric"])
