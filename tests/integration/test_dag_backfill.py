"""Backfills and reruns of `encore_ingest`: running it for a date, then another date, then
the first date again leaves that date's raw batches exactly as its first run left them (no
duplicates, nothing lost), for a snapshot source (synthetic) and a per-date one (a Last.fm
export file). Tiny sizes: ingest only, no dbt."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.support.airflow_cli import INGEST, dags_test, run_env

pytestmark = pytest.mark.integration

FIRST, SECOND = "2026-05-01", "2026-05-02"
EXPORT = (
    "artist,track,album,uts\n"
    "Radiohead,Reckoner,In Rainbows,1775000000\n"
    "Radiohead,Nude,In Rainbows,1775000300\n"
    "Bjork,Joga,Homogenic,1775000600\n"
)


def _batches(conn: psycopg.Connection) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(raw table, source, logical date) -> (rows, distinct batch ids)."""
    tables = [
        name
        for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
            " and table_type = 'BASE TABLE' order by 1"
        ).fetchall()
    ]
    found = {}
    for table in tables:
        query = sql.SQL(
            "select _source, _logical_date::text, count(*), count(distinct _batch_id)"
            " from raw.{} group by 1, 2"
        ).format(sql.Identifier(table))
        for source, day, rows, batches in conn.execute(query).fetchall():
            found[(table, source, day)] = (rows, batches)
    return found


def test_rerunning_a_date_after_another_leaves_that_date_as_its_first_run(
    module_warehouse_url: str, airflow_home: Path, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "alice__scrobbles.csv").write_text(EXPORT)
    conf = {"users": 25, "tracks": 300, "days": 60, "seed": 5, "exports_path": str(exports)}
    env = run_env(module_warehouse_url)

    dags_test(env, INGEST, conf, FIRST)
    with psycopg.connect(module_warehouse_url) as conn:
        first = _batches(conn)
    dags_test(env, INGEST, conf, SECOND)
    with psycopg.connect(module_warehouse_url) as conn:
        between = _batches(conn)
    dags_test(env, INGEST, conf, FIRST)
    with psycopg.connect(module_warehouse_url) as conn:
        again = _batches(conn)

    on_first = {key: value for key, value in first.items() if key[2] == FIRST}
    assert on_first and set(on_first) == set(first)
    assert ("lastfm_scrobbles", "lastfm_export", FIRST) in on_first
    assert any(source == "synthetic" for _, source, _ in on_first)
    # Each (table, source, date) is one batch: no run ever appends a duplicate.
    assert all(batches == 1 for _, batches in (*first.values(), *between.values(), *again.values()))
    # The first date, rerun after the second: exactly its first run's rows.
    assert {key: value for key, value in again.items() if key[2] == FIRST} == on_first
    # The per-date export keeps the second date's batch beside it; the synthetic snapshot
    # was replaced by the second date's world and then by the first's again.
    assert again[("lastfm_scrobbles", "lastfm_export", SECOND)] == (3, 1)
    assert on_first[("lastfm_scrobbles", "lastfm_export", FIRST)] == (3, 1)
    assert {key for key in again if key[1] == "synthetic"} == {
        key for key in on_first if key[1] == "synthetic"
    }
    assert any(key[1] == "synthetic" and key[2] == SECOND for key in between)
