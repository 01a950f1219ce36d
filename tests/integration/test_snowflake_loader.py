"""The Snowflake side of the raw layer: DDL from warehouse/raw_tables.py and batch loads,
run with the real snowflake connector against a local fakesnow server."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from tests.support.fakesnow_server import running_fakesnow
from warehouse import snowflake
from warehouse.landing import land_frames
from warehouse.raw_tables import BATCH_COLUMNS, RAW_TABLES

# fakesnow's own DuckDB-API notice, once per query: noise, not a finding
FAKESNOW_NOISE = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result")
pytestmark = [FAKESNOW_NOISE, pytest.mark.integration, pytest.mark.timeout(300)]
connector = pytest.importorskip("snowflake.connector")

DATABASE = "ENCORE_LOADER_TEST"  # fakesnow servers in one process share databases


@pytest.fixture(scope="module")
def cursor():
    with running_fakesnow() as params:
        conn = connector.connect(**params)
        try:
            cur = conn.cursor()
            for statement in snowflake.ddl_statements(DATABASE):
                cur.execute(statement)
            yield cur
        finally:
            conn.close()


def test_every_raw_table_exists_with_its_declared_columns(cursor) -> None:
    for table in RAW_TABLES.values():
        cursor.execute(f"select * from {DATABASE}.RAW.{table.name.upper()} limit 0")  # noqa: S608
        described = [column[0].lower() for column in cursor.description]
        assert described == [*table.column_names, *(name for name, _ in BATCH_COLUMNS)]


def test_ddl_rejects_a_database_name_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match="identifier"):
        snowflake.ddl_statements("ENCORE; drop table x")


def _users(n: int) -> pl.DataFrame:
    table = RAW_TABLES["synthetic_users"]
    return pl.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "username": [f"name{i}" for i in range(n)],
            "country": ["SE"] * n,
            "age_band": ["25-34"] * n,
            "signed_up_at": [dt.datetime(2025, 1, 1, tzinfo=dt.UTC)] * n,
        }
    ).select(table.column_names)


def test_a_rerun_of_a_date_replaces_its_batch_and_other_dates_stay(
    cursor, tmp_path, monkeypatch
) -> None:
    table = RAW_TABLES["synthetic_users"]
    name = f"{DATABASE}.RAW.SYNTHETIC_USERS"
    day1, day2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
    assert (
        snowflake.load_frame(
            cursor, DATABASE, table, _users(5), source="synthetic", logical_date=day1
        )
        == 5
    )
    snowflake.load_frame(cursor, DATABASE, table, _users(3), source="synthetic", logical_date=day2)
    # rerun day 1 from the landing zone, as the CLI does
    monkeypatch.setenv("ENCORE_HOME", str(tmp_path))
    folder = land_frames("synthetic", day1, {"synthetic_users": _users(4)})
    assert snowflake.load_landed(
        cursor, DATABASE, folder, source="synthetic", logical_date=day1
    ) == {"synthetic_users": 4}
    cursor.execute(
        "select _logical_date, count(*), count(distinct _batch_id) "  # noqa: S608
        f"from {name} group by 1 order by 1"
    )
    assert cursor.fetchall() == [(day1, 4, 1), (day2, 3, 1)]


def test_staged_rows_keep_their_values_and_an_empty_rerun_empties_the_date(cursor) -> None:
    table = RAW_TABLES["synthetic_users"]
    name = f"{DATABASE}.RAW.SYNTHETIC_USERS"
    day = dt.date(2026, 4, 1)
    frame = _users(2).with_columns(
        pl.when(pl.col("user_id") == "u1").then(None).otherwise(pl.col("country")).alias("country")
    )
    assert snowflake.load_frame(cursor, DATABASE, table, frame, source="s", logical_date=day) == 2
    cursor.execute(
        f"select user_id, country, signed_up_at, _source, _logical_date from {name} "  # noqa: S608
        "where _source = 's' order by user_id"
    )
    assert cursor.fetchall() == [
        ("u0", "SE", dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "s", day),
        ("u1", None, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "s", day),
    ]
    assert (
        snowflake.load_frame(cursor, DATABASE, table, frame.head(0), source="s", logical_date=day)
        == 0
    )
    cursor.execute(f"select count(*) from {name} where _source = 's'")  # noqa: S608
    assert cursor.fetchall() == [(0,)]


def test_quarantined_rows_are_kept_and_a_rerun_replaces_them(cursor, tmp_path, monkeypatch) -> None:
    day = dt.date(2026, 5, 1)
    monkeypatch.setenv("ENCORE_HOME", str(tmp_path))
    rejected = pl.DataFrame(
        {"user_id": ["bad1", "bad2"], "signed_up_at": ["2999-01-01", "yesterday"]}
    ).with_columns(pl.lit("impossible or unreadable signed_up_at").alias("_reason"))
    folder = land_frames(
        "quarantine", day, {"synthetic_users": _users(1), "synthetic_users.rejected": rejected}
    )
    assert snowflake.load_landed(
        cursor, DATABASE, folder, source="quarantine", logical_date=day
    ) == {"synthetic_users": 1}
    query = (
        f"select table_name, _reason, record, _logical_date from {DATABASE}.RAW_REJECTED.ROWS "  # noqa: S608
        "where _source = 'quarantine' order by record"
    )
    cursor.execute(query)
    rows = cursor.fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("synthetic_users", "impossible or unreadable signed_up_at", day)
    ] * 2
    assert json.loads(rows[0][2]) == {"user_id": "bad1", "signed_up_at": "2999-01-01"}
    # the same date again, with nothing rejected: its quarantine is replaced (emptied)
    folder = land_frames("quarantine", day, {"synthetic_users": _users(1)})
    snowflake.load_landed(cursor, DATABASE, folder, source="quarantine", logical_date=day)
    cursor.execute(query)
    assert cursor.fetchall() == []
