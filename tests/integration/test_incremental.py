"""Incremental fct_plays / fct_sessions equal a full refresh, scenario after scenario.

A tiny synthetic world (40 users, 300 tracks, 60 days) in a database of this module's own.
Its catalogue is a snapshot (`replace="source"`); its plays arrive as batches keyed by
logical date (`replace="logical_date"`), so that batches can be added and replaced:

(a) initial build: the history up to five days before the end, minus a few held-back plays
    of older days, and minus the whole of one old day;
(b) a new batch: the last five days plus the held-back plays and that whole day, i.e. late
    plays far older than the lookback window (`incremental_lookback_days`, 3);
(c) the same batch re-delivered (same source and logical date, a new batch id): some plays
    removed (all of the old day's: that day must end up empty), some changed (ms_played,
    played_at moved by a few minutes);
(d) the snapshot replaced by a different world (other seed, shorter window): every play
    of the first world must vanish.

After each: `dbt run` of +fct_plays +fct_sessions (incremental), a copy of both tables,
`dbt run --full-refresh` of the two, and the copies must equal the rebuilt tables (EXCEPT ALL
both ways empty, same counts). The incremental run must also have rewritten only some days
(PostgreSQL xmin): it is incremental, not a disguised full refresh.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import psycopg
import pytest
from psycopg import sql

from tests.support.marts import run_dbt, set_difference, snapshot_table

pytestmark = [pytest.mark.integration]

END = dt.date(2026, 3, 1)
CUTOFF = dt.datetime(2026, 2, 24, tzinfo=dt.UTC)  # (b) delivers plays from here on
EMPTIED_DAY = dt.date(2026, 1, 20)  # delivered whole in (b), removed again in (c)
SELECT = ["--select", "+fct_plays", "+fct_sessions"]
TABLES = ("fct_plays", "fct_sessions")
KEY_DAY = {"fct_plays": "played_on", "fct_sessions": "session_started_on"}


def _world(seed: int, days: int, end: dt.date):
    from extract.synthetic import SyntheticConfig, generate_world

    return generate_world(
        SyntheticConfig(seed=seed, n_users=40, n_tracks=300, days=days, end_date=end)
    )


def _load_catalogue(conn, world, logical_date: dt.date) -> None:
    from warehouse.loader import load_batch
    from warehouse.raw_tables import SYNTHETIC_ARTISTS, SYNTHETIC_TRACKS, SYNTHETIC_USERS

    for table, frame in (
        (SYNTHETIC_USERS, world.users),
        (SYNTHETIC_ARTISTS, world.artists),
        (SYNTHETIC_TRACKS, world.tracks),
    ):
        load_batch(
            conn, frame, table, source="synthetic", logical_date=logical_date, replace="source"
        )


def _load_plays(conn, plays: pl.DataFrame, logical_date: dt.date, replace="logical_date"):
    from warehouse.loader import load_batch
    from warehouse.raw_tables import SYNTHETIC_PLAYS

    return load_batch(
        conn, plays, SYNTHETIC_PLAYS, source="synthetic", logical_date=logical_date, replace=replace
    )


def _day(column: str = "played_at") -> pl.Expr:
    return pl.col(column).dt.convert_time_zone("UTC").dt.date()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dbt_incremental")


@pytest.fixture(scope="module")
def world():
    plays = _world(seed=3, days=60, end=END)
    return plays


def _xmins(conn, table: str) -> None:
    """Remember each row's transaction id (xmin), to tell later which rows were rewritten."""
    names = {
        "table": sql.Identifier(table),
        "copy": sql.Identifier(f"{table}_xmin"),
        "day": sql.Identifier(KEY_DAY[table]),
    }
    conn.execute(sql.SQL("drop table if exists scratch.{copy}").format(**names))
    conn.execute(
        sql.SQL(
            "create table scratch.{copy} as select {day} as day, xmin::text as x from marts.{table}"
        ).format(**names)
    )
    conn.commit()


def _rewritten_days(conn, table: str) -> tuple[int, int]:
    """(days with a row rewritten by the last run, days in the table)."""
    names = {
        "table": sql.Identifier(table),
        "copy": sql.Identifier(f"{table}_xmin"),
        "day": sql.Identifier(KEY_DAY[table]),
    }
    rewritten = conn.execute(
        sql.SQL(
            "select count(distinct t.{day}) from marts.{table} as t where not exists ("
            "select 1 from scratch.{copy} as s where s.x = t.xmin::text and s.day = t.{day})"
        ).format(**names)
    ).fetchone()[0]
    total = conn.execute(
        sql.SQL("select count(distinct {day}) from marts.{table}").format(**names)
    ).fetchone()[0]
    return rewritten, total


def _incremental_equals_full_refresh(url: str, scratch: Path, label: str) -> dict:
    """Incremental run, copy, full refresh, compare; returns timings and rewritten days."""
    with psycopg.connect(url) as conn:
        existing = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts' "
            "and table_name = 'fct_plays'"
        ).fetchone()[0]
        if existing:
            for table in TABLES:
                _xmins(conn, table)
    incremental = run_dbt(url, scratch, "run", *SELECT)
    out = {"label": label, "incremental_s": {t: incremental.timing(t) for t in TABLES}}
    with psycopg.connect(url) as conn:
        if existing:
            out["rewritten_days"] = {t: _rewritten_days(conn, t) for t in TABLES}
        for table in TABLES:
            snapshot_table(conn, "marts", table, f"{table}_incremental")
    full = run_dbt(url, scratch, "run", "--select", *TABLES, "--full-refresh")
    out["full_refresh_s"] = {t: full.timing(t) for t in TABLES}
    with psycopg.connect(url) as conn:
        for table in TABLES:
            only_incremental, only_full = set_difference(
                conn, f"scratch.{table}_incremental", f"marts.{table}"
            )
            assert (only_incremental, only_full) == (0, 0), (
                f"{label}: {table} incremental != full refresh "
                f"({only_incremental} rows only in the incremental, {only_full} only in full)"
            )
            counts = [
                conn.execute(
                    sql.SQL("select count(*) from {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(name)
                    )
                ).fetchone()[0]
                for schema, name in (("scratch", f"{table}_incremental"), ("marts", table))
            ]
            assert counts[0] == counts[1] > 0, (label, table, counts)
            out.setdefault("rows", {})[table] = counts[0]
    print(out)
    return out


@pytest.fixture(scope="module")
def scenarios(module_warehouse_url: str, scratch: Path, world):
    url = module_warehouse_url
    plays = world.plays.with_columns(_day().alias("day"))
    old = plays.filter(pl.col("played_at") < CUTOFF)
    # late plays: every 40th play of days well before the lookback, and one whole day
    late = (
        old.with_row_index("i")
        .filter(
            ((pl.col("i") % 40 == 0) & (pl.col("day") < dt.date(2026, 2, 10)))
            | (pl.col("day") == EMPTIED_DAY)
        )
        .drop("i")
    )
    history = old.join(late, on=old.columns, how="anti")
    recent = plays.filter(pl.col("played_at") >= CUTOFF)
    batch_b = pl.concat([recent, late])
    results = {}

    with psycopg.connect(url) as conn:
        _load_catalogue(conn, world, END)
        _load_plays(conn, history.drop("day"), CUTOFF.date() - dt.timedelta(days=1))
    results["a"] = _incremental_equals_full_refresh(url, scratch, "a: initial build")
    # a run with nothing new rewrites only the lookback window
    results["a2"] = _incremental_equals_full_refresh(url, scratch, "a2: nothing new")

    with psycopg.connect(url) as conn:
        _load_plays(conn, batch_b.drop("day"), END)
    results["b"] = _incremental_equals_full_refresh(url, scratch, "b: new batch + late plays")

    # (c) the same logical date again: drop the emptied day and every 5th play, change others
    replaced = (
        batch_b.filter(pl.col("day") != EMPTIED_DAY)
        .with_row_index("i")
        .filter(pl.col("i") % 5 != 0)
        .with_columns(
            pl.when(pl.col("i") % 7 == 1)
            .then(pl.col("ms_played") // 2)
            .otherwise(pl.col("ms_played"))
            .alias("ms_played"),
            pl.when(pl.col("i") % 11 == 2)
            .then(pl.col("played_at") + dt.timedelta(minutes=7))
            .otherwise(pl.col("played_at"))
            .alias("played_at"),
        )
        .drop("i", "day")
    )
    with psycopg.connect(url) as conn:
        _load_plays(conn, replaced, END)
        emptied = conn.execute(
            "select count(*) from marts.fct_plays where played_on = %s", [EMPTIED_DAY]
        ).fetchone()[0]
        assert emptied > 0
    results["c"] = _incremental_equals_full_refresh(url, scratch, "c: batch replaced")
    with psycopg.connect(url) as conn:
        assert (
            conn.execute(
                "select count(*) from marts.fct_plays where played_on = %s", [EMPTIED_DAY]
            ).fetchone()[0]
            == 0
        )

    # (d) a different world replaces the snapshot (and every play batch of the source)
    other = _world(seed=11, days=45, end=dt.date(2026, 2, 20))
    with psycopg.connect(url) as conn:
        _load_catalogue(conn, other, dt.date(2026, 2, 20))
        _load_plays(conn, other.plays, dt.date(2026, 2, 20), replace="source")
    results["d"] = _incremental_equals_full_refresh(url, scratch, "d: snapshot replaced")
    with psycopg.connect(url) as conn:
        latest = conn.execute("select max(played_on) from marts.fct_plays").fetchone()[0]
        assert latest < dt.date(2026, 2, 20)
    return results


def test_initial_build_equals_full_refresh(scenarios) -> None:
    assert scenarios["a"]["rows"]["fct_plays"] > 1000


def test_run_without_new_data_rewrites_only_the_lookback_window(scenarios) -> None:
    rewritten, total = scenarios["a2"]["rewritten_days"]["fct_plays"]
    # lookback 3 days + the latest day
    assert rewritten == 4 and total > 40, (rewritten, total)


def test_late_plays_older_than_the_lookback_are_applied(scenarios) -> None:
    rewritten, total = scenarios["b"]["rewritten_days"]["fct_plays"]
    assert 5 < rewritten < total, (rewritten, total)


def test_replaced_batch_equals_full_refresh(scenarios) -> None:
    assert scenarios["c"]["rows"]["fct_plays"] < scenarios["b"]["rows"]["fct_plays"]


def test_replaced_snapshot_equals_full_refresh(scenarios) -> None:
    assert scenarios["d"]["rows"]["fct_sessions"] > 0
