"""Last.fm into the real warehouse: incremental windows, idempotent reruns, quarantine.

pylast talks to the local fake (recorded answers); the watermark is read from, and the
batches loaded into, the module's own PostgreSQL database.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from config import subprocess_env
from extract.lastfm import (
    extract_recent_tracks,
    extract_track_info,
    extract_user,
    lastfm_users,
    load_landed,
)
from extract.lastfm.config import LastfmConfig
from tests.support.lastfm_fake import API_KEY, API_SECRET, FakeLastfm, fast_config, running_fake
from warehouse.paths import PROJECT_ROOT
from warehouse.raw_tables import LASTFM_SCROBBLES, LASTFM_TRACK_INFO, LASTFM_USER_INFO

pytestmark = pytest.mark.integration

D1, D2 = dt.date(2018, 5, 16), dt.date(2018, 5, 17)  # diegodukao's page spans 05-15/16 UTC
D3 = dt.date(2021, 11, 22)  # after test-account's scrobbles, which have recorded track info
USERS = ("diegodukao", "RJ", "mojibake", "hidden", "test-account")
RECENT = "user.getRecentTracks"


@pytest.fixture(scope="module")
def fake(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeLastfm]:
    with running_fake(shared_data) as service, pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENCORE_HOME", str(tmp_path_factory.mktemp("lastfm-home")))
        service.hide("hidden")
        yield service


@pytest.fixture
def config(fake: FakeLastfm) -> LastfmConfig:
    fake.reset()
    return fast_config(fake.api_url, users=USERS)


def run(conn: psycopg.Connection, config: LastfmConfig, day: dt.date) -> dict[str, int]:
    return load_landed(conn, extract_recent_tracks(day, config=config, conn=conn), day)


def batch(conn: psycopg.Connection, day: dt.date) -> dict[str, object]:
    """Everything the (lastfm, day) batch holds except load times: rows of every table,
    sorted, and the quarantined rows with their reasons."""
    snapshot: dict[str, object] = {}
    for table in (LASTFM_SCROBBLES, LASTFM_USER_INFO, LASTFM_TRACK_INFO):
        columns = ", ".join(f'"{name}"' for name in table.column_names if name != "fetched_at")
        snapshot[table.name] = conn.execute(
            f"select {columns} from raw.{table.name} "  # noqa: S608  (names from code)
            "where _source = 'lastfm' and _logical_date = %s order by 1, 2, 3, 4",
            [day],
        ).fetchall()
    snapshot["rejected"] = conn.execute(
        "select table_name, _reason, record::text from raw_rejected.rows "
        "where _source = 'lastfm' and _logical_date = %s order by 1, 2, 3",
        [day],
    ).fetchall()
    return snapshot


def recent_calls(fake: FakeLastfm, user: str) -> list[tuple[str | None, str | None, str]]:
    return [
        (call.get("from"), call.get("to"), call["limit"])
        for call in fake.calls(RECENT)
        if call["user"] == user
    ]


def test_incremental_runs_and_idempotent_reruns(
    module_conn: psycopg.Connection, fake: FakeLastfm, config: LastfmConfig
) -> None:
    conn = module_conn
    first = run(conn, config, D1)
    first_calls = recent_calls(fake, "diegodukao")
    assert first_calls == [
        (None, str(int(dt.datetime(2018, 5, 16, tzinfo=dt.UTC).timestamp())), "200")
    ]
    d1 = batch(conn, D1)
    users_loaded = {row[0] for row in d1["lastfm_scrobbles"]}
    assert users_loaded == {"diegodukao", "RJ"}  # hidden: skipped; mojibake: quarantined
    diego_d1 = [row for row in d1["lastfm_scrobbles"] if row[0] == "diegodukao"]
    assert 0 < len(diego_d1) < 50
    assert max(row[1] for row in diego_d1) < dt.datetime(2018, 5, 16, tzinfo=dt.UTC)
    assert first == {
        "lastfm_scrobbles": len(diego_d1) + 1,
        "lastfm_user_info": 3,
        "lastfm_track_info": 0,
        "rejected": 2,
        "users_skipped": 1,
    }
    assert [(reason, table) for table, reason, _ in d1["rejected"]] == [
        ("missing timestamp", "lastfm_scrobbles"),
        ("text is byte-swapped UTF-16 (mojibake)", "lastfm_scrobbles"),
    ]

    # Rerunning the date asks for the same window and leaves the same rows.
    fake.reset()
    assert run(conn, config, D1) == first
    assert recent_calls(fake, "diegodukao") == first_calls
    assert batch(conn, D1) == d1

    # The next date starts LASTFM_LOOKBACK_DAYS (14) before the newest scrobble loaded
    # before it; what it re-reads of D1's batch is not loaded again.
    fake.reset()
    second = run(conn, config, D2)
    watermark = max(row[1] for row in diego_d1)
    ((since, _, _),) = recent_calls(fake, "diegodukao")
    assert since == str(int((watermark - dt.timedelta(days=14)).timestamp()))
    assert second["lastfm_scrobbles"] == 50 - len(diego_d1)  # RJ: nothing new
    total, distinct = conn.execute(
        "select count(*), count(distinct (user_name, played_at)) from raw.lastfm_scrobbles "
        "where _source = 'lastfm' and user_name = 'diegodukao'"
    ).fetchone()
    assert total == distinct == 50

    # A later batch does not move an earlier date's window: D1 reruns to the same rows.
    fake.reset()
    run(conn, config, D1)
    assert recent_calls(fake, "diegodukao") == first_calls
    assert batch(conn, D1) == d1

    # Track metadata: only tracks no earlier batch described; reruns reproduce it.
    fake.reset()
    third = run(conn, config, D3)
    assert third["lastfm_track_info"] == 1
    d3 = batch(conn, D3)
    assert [row[:4] for row in d3["lastfm_track_info"]] == [
        ("Test Artist", "Test Title", None, 25000)
    ]
    fake.reset()
    run(conn, config, D3)
    assert batch(conn, D3) == d3
    # Only D3's own scrobbles are described (earlier dates' tracks belong to their batches).
    assert {(call["artist"], call["track"]) for call in fake.calls("track.getInfo")} == {
        ("Test Artist", "Test Title"),
        ("Test Artist", "test title 2"),
    }


def test_one_task_per_user_lands_the_same_batch(
    module_conn: psycopg.Connection, fake: FakeLastfm, config: LastfmConfig
) -> None:
    conn = module_conn
    run(conn, config, D2)
    single = batch(conn, D2)
    users = lastfm_users(config)
    assert users == list(USERS)
    folders = [extract_user(user, D2, config=config, conn=conn) for user in users]
    folders.append(extract_track_info(D2, folders, config=config, conn=conn))
    counts = load_landed(conn, folders, D2)
    assert counts["users_skipped"] == 1
    assert batch(conn, D2) == single


def test_the_cli_extracts_and_loads_without_airflow(
    module_conn: psycopg.Connection,
    module_warehouse_url: str,
    fake: FakeLastfm,
    config: LastfmConfig,
) -> None:
    run(module_conn, config, D2)
    expected = batch(module_conn, D2)
    module_conn.rollback()  # end our read transaction: the CLI's bootstrap takes DDL locks
    env = subprocess_env(
        {
            "WAREHOUSE_URL": module_warehouse_url,
            "LASTFM_API_KEY": API_KEY,
            "LASTFM_API_SECRET": API_SECRET,
            "LASTFM_API_URL": fake.api_url,
            "LASTFM_USERS": "nobody",
            "LASTFM_INITIAL_DAYS": "all",
            "LASTFM_MIN_INTERVAL_SECONDS": "0",
            "LASTFM_BACKOFF_SECONDS": "0",
        }
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "extract.lastfm",
            "--date",
            D2.isoformat(),
            "--users",
            ",".join(USERS),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "lastfm_scrobbles:" in done.stdout and "users_skipped: 1" in done.stdout
    assert "users skipped: hidden (private)" in done.stderr
    for secret in (API_KEY, API_SECRET):
        assert secret not in done.stdout + done.stderr
    assert batch(module_conn, D2) == expected
