"""`dbt build --target snowflake` offline, against a local fakesnow server.

fakesnow (https://github.com/tekumara/fakesnow) emulates Snowflake on DuckDB; in server mode
it speaks the Snowflake HTTP protocol on loopback, so the real snowflake connector and
dbt-snowflake run unchanged against it (profiles.yml: SNOWFLAKE_HOST / _PORT / _PROTOCOL).

The test starts the server in-process (`fakesnow.server()`, 127.0.0.1, a free port), creates
every raw table of warehouse/raw_tables.py in ENCORE.RAW (plus the serving tables that ml/
writes and the warehouse bootstrap creates), loads a tiny synthetic world into
RAW.SYNTHETIC_* (the other sources stay empty, as in a deployment without them), runs
`dbt build --target snowflake` in-process and checks the marts' row counts.

It proves the Snowflake dispatch of the project's macros (macros/cross_db.sql) and that the
PostgreSQL-only hooks (macros/postgres_hooks.sql) render to nothing there. fakesnow is an
emulation: passing here does not prove every query runs on a real Snowflake account.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.support.fakesnow_server import dbt_build_snowflake, running_fakesnow
from warehouse import snowflake
from warehouse.raw_tables import RAW_TABLES

# fakesnow's own DuckDB-API notice, once per query: noise, not a finding
FAKESNOW_NOISE = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result")
pytestmark = [FAKESNOW_NOISE, pytest.mark.timeout(300), pytest.mark.integration, pytest.mark.slow]

snowflake_connector = pytest.importorskip("snowflake.connector")

DATABASE = "ENCORE"

# What fakesnow (DuckDB underneath) cannot run, left out of the build, each with its reason:
EXCLUDE: list[str] = [
    # dbt unit tests: dbt-snowflake checks the fixture's column names against the columns
    # fakesnow describes for the temporary table ("Invalid column name: 'user_id' in unit
    # test fixture for expected output"): a case mismatch of the emulator, not of the models.
    # The PostgreSQL build (test_dbt_build.py) runs them.
    "test_type:unit",
]


def _load_synthetic(cursor, world) -> dict[str, int]:
    """Create RAW/SERVING (warehouse/snowflake.py) and load the world as one batch each."""
    for statement in snowflake.ddl_statements(DATABASE):
        cursor.execute(statement)
    frames = {
        "synthetic_users": world.users,
        "synthetic_artists": world.artists,
        "synthetic_tracks": world.tracks,
        "synthetic_plays": world.plays,
    }
    return {
        name: snowflake.load_frame(
            cursor,
            DATABASE,
            RAW_TABLES[name],
            frame,
            source="synthetic",
            logical_date=dt.date(2026, 1, 1),
        )
        for name, frame in frames.items()
    }


@pytest.fixture(scope="module")
def fakesnow_server():
    with running_fakesnow() as params:
        yield params


@pytest.fixture(scope="module")
def loaded_fakesnow(fakesnow_server):
    from extract.synthetic import generate_world
    from extract.synthetic.model import SyntheticConfig

    world = generate_world(SyntheticConfig(n_users=20, n_tracks=200, days=100))
    conn = snowflake_connector.connect(**fakesnow_server)
    try:
        counts = _load_synthetic(conn.cursor(), world)
    finally:
        conn.close()
    return fakesnow_server, counts


def _query(server: dict, sql: str):
    conn = snowflake_connector.connect(**server, database=DATABASE)
    try:
        return conn.cursor().execute(sql).fetchall()
    finally:
        conn.close()


def _dbt_build(server: dict, scratch: Path):
    """`dbt build --target snowflake` against the fakesnow server; asserts success."""
    return dbt_build_snowflake(server, DATABASE, scratch, exclude=EXCLUDE)


@pytest.fixture(scope="module")
def snowflake_build(loaded_fakesnow, tmp_path_factory: pytest.TempPathFactory):
    server, counts = loaded_fakesnow
    scratch: Path = tmp_path_factory.mktemp("dbt_snowflake")
    result = _dbt_build(server, scratch)
    return server, counts, result, scratch


LATE_BATCH = "00000000-0000-0000-0000-000000000002"


@pytest.fixture(scope="module")
def incremental_build(snowflake_build):
    """A second build after a late batch: fct_plays and fct_sessions run incrementally
    (strategy replace_days: delete + insert of whole days, in one transaction)."""
    server, counts, _, scratch = snowflake_build
    before = _mart_counts(server)
    # a late delivery: 30 plays of the first days, one hour after the real ones
    sql = (
        f"insert into {DATABASE}.RAW.SYNTHETIC_PLAYS "  # noqa: S608 (constants only)
        "select user_id, track_id, dateadd(hour, 1, played_at), ms_played, "
        f"'{LATE_BATCH}', _source, current_timestamp(), _logical_date "
        f"from {DATABASE}.RAW.SYNTHETIC_PLAYS order by played_at limit 30"
    )
    columns = [name for name, _ in RAW_TABLES["synthetic_plays"].columns]
    assert columns == ["user_id", "track_id", "played_at", "ms_played"], columns
    _query(server, sql)
    result = _dbt_build(server, scratch)
    return server, counts, result, before


def _mart_counts(server: dict) -> dict[str, int]:
    return {
        table: _query(server, f"select count(*) from MARTS.{table}")[0][0]  # noqa: S608
        for table in ("FCT_PLAYS", "FCT_SESSIONS")
    }


def test_build_succeeds_on_fakesnow(snowflake_build):
    _, _, result, _ = snowflake_build
    statuses = {str(r.status) for r in result.result}
    assert statuses <= {"success", "pass", "no-op"}
    models = [r for r in result.result if r.node.resource_type == "model"]
    assert len(models) > 20


def test_marts_hold_rows(snowflake_build):
    server, counts, _, _ = snowflake_build
    (plays,) = _query(server, "select count(*) from MARTS.FCT_PLAYS")[0]
    assert 0 < plays <= counts["synthetic_plays"]
    (users,) = _query(server, "select count(*) from MARTS.DIM_USERS")[0]
    assert users == counts["synthetic_users"]
    (tracks,) = _query(server, "select count(*) from MARTS.DIM_TRACKS")[0]
    assert tracks == counts["synthetic_tracks"]
    (labels, repeats) = _query(
        server,
        "select count(*), sum(case when repeat_30d then 1 else 0 end) from MARTS.FCT_FIRST_PLAYS",
    )[0]
    assert labels > 0 and 0 < repeats < labels
    (pairs,) = _query(server, "select count(*) from MARTS.FCT_PAIR_FEATURES")[0]
    assert pairs == labels
    (candidates,) = _query(server, "select count(*) from MARTS.FCT_CANDIDATE_FEATURES")[0]
    assert candidates > 0


def test_incremental_build_applies_a_late_batch(incremental_build):
    server, _, result, before = incremental_build
    incremental = {
        r.node.name: r for r in result.result if r.node.name in {"fct_plays", "fct_sessions"}
    }
    assert {str(r.status) for r in incremental.values()} == {"success"}
    after = _mart_counts(server)
    assert before["FCT_PLAYS"] < after["FCT_PLAYS"] <= before["FCT_PLAYS"] + 30
    # the incremental marts agree with each other and have no duplicates
    (plays, distinct_plays, late) = _query(
        server,
        "select count(*), count(distinct play_id), count(distinct played_on) from MARTS.FCT_PLAYS",
    )[0]
    assert plays == distinct_plays == after["FCT_PLAYS"] and late > 0
    (sessions, session_plays) = _query(
        server, "select count(*), sum(play_count) from MARTS.FCT_SESSIONS"
    )[0]
    assert sessions == after["FCT_SESSIONS"] and session_plays == plays
