"""ml.db's COPY reader against the real warehouse: exact types and values (NULL and the empty
string apart, quotes, commas and newlines in text, NaN and infinities, timestamps to the
microsecond), bound parameters, empty results, and batches of exactly the asked size."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import polars as pl
import psycopg
from psycopg import sql

from ml.db import iter_frames, read_frame

SCHEMA = {
    "id": pl.Int64(),
    "small": pl.Int32(),
    "name": pl.String(),
    "value": pl.Float64(),
    "at": pl.Datetime("us", "UTC"),
}
ROWS = sql.SQL("""
    select * from (values
        (1::bigint, 7, 'plain', 0.1::double precision,
         timestamptz '2026-01-02 03:04:05.678901+00'),
        (2, null, '', 'NaN', timestamptz '1999-12-31 23:59:59.999999+00'),
        (3, -1, null, 'Infinity', null),
        (4, 0, 'it''s, "quoted"' || chr(10) || 'two lines', '-Infinity',
         timestamptz '2026-06-30 12:00:00+02'),
        (5, 2147483647, 'ünïcode', 1.5e-300, timestamptz '1970-01-01 00:00:00+00')
    ) as v (id, small, name, value, at)
""")


def test_read_frame_keeps_every_value_and_type(conn: psycopg.Connection) -> None:
    frame = read_frame(conn, sql.SQL("{} order by id").format(ROWS), SCHEMA)
    assert frame.schema == pl.Schema(SCHEMA)
    assert frame["small"].to_list() == [7, None, -1, 0, 2147483647]
    assert frame["name"].to_list() == ["plain", "", None, 'it\'s, "quoted"\ntwo lines', "ünïcode"]
    values = frame["value"].to_list()
    assert values[0] == 0.1 and math.isnan(values[1]) and values[4] == 1.5e-300
    assert values[2:4] == [math.inf, -math.inf]
    assert frame["at"].to_list() == [
        datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        None,
        datetime(2026, 6, 30, 10, 0, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
    ]


def test_read_frame_binds_parameters(conn: psycopg.Connection) -> None:
    query = sql.SQL("{} where name = %s or id = any(%s) order by id").format(ROWS)
    frame = read_frame(conn, query, SCHEMA, ['it\'s, "quoted"\ntwo lines', [1, 5]])
    assert frame["id"].to_list() == [1, 4, 5]


def test_empty_results_keep_the_schema(conn: psycopg.Connection) -> None:
    query = sql.SQL("{} where false").format(ROWS)
    assert read_frame(conn, query, SCHEMA).schema == pl.Schema(SCHEMA)
    assert list(iter_frames(conn, query, SCHEMA, 2)) == []


def test_iter_frames_yields_batches_of_the_asked_size(conn: psycopg.Connection) -> None:
    query = sql.SQL("{} order by id").format(ROWS)
    batches = list(iter_frames(conn, query, SCHEMA, 2))
    assert [batch.height for batch in batches] == [2, 2, 1]
    assert pl.concat(batches).equals(read_frame(conn, query, SCHEMA))
    # the connection is free between batches (score writes its results there)
    for batch in iter_frames(conn, query, SCHEMA, 2):
        assert conn.execute("select %s::bigint", [batch.height]).fetchone() == (batch.height,)
