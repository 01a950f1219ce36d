"""PostgreSQL's side of the warehouse seam against the real warehouse: the COPY reader keeps
exact types and values (NULL and the empty string apart, quotes, commas and newlines in
text, NaN and infinities, timestamps to the microsecond), binds parameters, keeps the schema
of an empty result and yields batches of exactly the asked size; a `Select` reads what it
says (filter, order, shards that partition the rows), a frame written comes back (JSON
text as jsonb), and frames append through one COPY while a read's frames are iterated: spooled
until `send()`, all in when the block ends, none when it fails. A streamed read gives the
same frames, and raises the error of a query that fails half way."""

from __future__ import annotations

import math
from contextlib import closing
from datetime import UTC, datetime

import polars as pl
import psycopg
import pytest
from psycopg import sql

from warehouse import seam
from warehouse.bulk import Select, Shard
from warehouse.postgres_io import iter_query as iter_frames
from warehouse.postgres_io import read_query as read_frame

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


def test_a_streamed_read_gives_the_same_frames_and_its_errors(
    conn: psycopg.Connection,
) -> None:
    query = sql.SQL("{} order by id").format(ROWS)
    streamed = list(iter_frames(conn, query, SCHEMA, 2, streaming=True))
    assert [batch.height for batch in streamed] == [2, 2, 1]
    assert pl.concat(streamed).equals(read_frame(conn, query, SCHEMA))
    empty = sql.SQL("{} where false").format(ROWS)
    assert list(iter_frames(conn, empty, SCHEMA, 2, streaming=True)) == []
    # a reader that stops early leaves the connection usable
    many = sql.SQL("select i::bigint as id from generate_series(1, 200000) as i")
    frames = iter_frames(conn, many, {"id": pl.Int64()}, 1000, streaming=True)
    assert next(frames).height == 1000
    frames.close()
    assert conn.execute("select 1").fetchone() == (1,)
    # an error after some rows is raised, never a silently shorter result
    failing = sql.SQL("select (1 / (150000 - i))::bigint as id from generate_series(1, 200000) i")
    with pytest.raises(psycopg.errors.DivisionByZero):
        list(iter_frames(conn, failing, {"id": pl.Int64()}, 1000, streaming=True))
    conn.rollback()


@pytest.mark.timeout(120)  # the failure this guards against is a hang
def test_a_stream_closed_by_a_failing_consumer_lets_the_transaction_roll_back(
    conn: psycopg.Connection,
) -> None:
    # more bytes than pyarrow reads ahead: left open, the reading thread would wait inside
    # the COPY, holding the connection, while the transaction tried to roll back
    wide = sql.SQL("select i::bigint as id, repeat('x', 200) as pad from generate_series(1, 1e6) i")
    schema = {"id": pl.Int64(), "pad": pl.String()}
    with (
        pytest.raises(ValueError, match="half way"),
        conn.transaction(),
        closing(iter_frames(conn, wide, schema, 1000, streaming=True)) as stream,
    ):
        for _ in stream:
            raise ValueError("failed half way")  # as ml.score closes its read on the way out
    assert conn.execute("select 2").fetchone() == (2,)


def test_frames_append_through_one_copy_while_a_read_is_iterated(
    conn: psycopg.Connection,
) -> None:
    conn.execute("create temporary table appended (id bigint, name text, facts jsonb)")
    target = ("pg_temp", "appended", ["id", "name"])
    query = sql.SQL("{} order by id").format(ROWS)
    warehouse = seam.of(conn)
    batches = iter_frames(conn, query, SCHEMA, 2)  # read before the COPY starts
    with warehouse.appending(*target) as append:
        written = [append(batch.select("id", "name", "value")) for batch in batches]
        # spooled so far: the connection is still the caller's
        assert conn.execute("select count(*) from appended").fetchone() == (0,)
        append.send()  # the COPY goes on in a thread; nothing more can be appended
        with pytest.raises(RuntimeError, match="being sent"):
            append(pl.DataFrame({"id": [9], "name": ["late"], "value": [0.0]}))
    assert written == [2, 2, 1]
    rows = conn.execute("select id, name from appended order by id").fetchall()
    assert rows == read_frame(conn, query, SCHEMA).select("id", "name").rows()
    facts = pl.DataFrame({"id": [9], "name": ["x"], "facts": ['[{"feature": "a", "said": true}]']})
    assert warehouse.write_frame("pg_temp", "appended", facts, json_columns=("facts",)) == 1
    assert conn.execute(
        "select facts -> 0 ->> 'feature' from appended where id = 9"
    ).fetchone() == ("a",)


def test_a_select_filters_orders_and_shards(conn: psycopg.Connection) -> None:
    conn.execute("create temporary table seam_rows (id bigint, name text, value double precision)")
    conn.execute(
        "insert into seam_rows select i, case when i % 3 = 0 then null else 'u' || (i % 7) end, "
        "i / 10.0 from generate_series(1, 200) as i"
    )
    columns = {"id": pl.Int64(), "name": pl.String(), "value": pl.Float64()}
    schema = conn.execute("select nspname from pg_namespace where oid = pg_my_temp_schema()")
    (temp,) = schema.fetchone() or ("",)
    warehouse = seam.of(conn)
    assert warehouse.dialect == "postgres"
    named = warehouse.read_frame(
        Select(temp, "seam_rows", columns, not_null=("name",), order_by=("value",))
    )
    assert named["name"].null_count() == 0 and named.height == 134
    assert named["value"].is_sorted()
    shards = [
        warehouse.read_frame(Select(temp, "seam_rows", columns, shard=Shard("name", i, 3)))
        for i in range(3)
    ]
    assert sorted(pl.concat(shards)["id"].to_list()) == named.sort("id")["id"].to_list()
    assert all(  # a user's rows stay in one shard
        set(a["name"]).isdisjoint(set(b["name"])) for a in shards for b in shards if a is not b
    )
    written = warehouse.write_frame(
        temp, "seam_rows", pl.DataFrame({"id": [999], "name": ["x"], "value": [None]})
    )
    assert written == 1
    assert conn.execute("select name, value from seam_rows where id = 999").fetchone() == (
        "x",
        None,
    )


def test_a_select_takes_only_plain_names() -> None:
    with pytest.raises(ValueError, match="plain identifier"):
        Select("marts", "t; drop table x", {"id": pl.Int64()})


def test_a_failed_append_block_writes_nothing_and_frees_the_connection(
    conn: psycopg.Connection,
) -> None:
    conn.execute("create temporary table appended_once (id bigint)")
    warehouse = seam.of(conn)
    ids = pl.DataFrame({"id": [1, 2, 3]})
    for send_first in (False, True):
        with (
            pytest.raises(ValueError, match="boom"),
            warehouse.appending("pg_temp", "appended_once", ["id"]) as append,
        ):
            append(ids)
            if send_first:
                append.send()  # under way when the block fails: it ends before the error
            raise ValueError("boom")
        rows = conn.execute("select count(*) from appended_once").fetchone()
        assert rows == ((3,) if send_first else (0,))  # the caller's transaction decides
        conn.execute("truncate appended_once")
