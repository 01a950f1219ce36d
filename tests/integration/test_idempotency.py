"""Idempotency and backfill: reruns leave identical marts (row counts + checksums).

A database of this module's own, a tiny synthetic world (40 users, 300 tracks, 60 days).

(i)  The same logical date three times: the world loaded as the snapshot of one date (each
     load replaces the previous one: new batch ids, new load times), then `dbt run`; after
     each, every mart has the same row count and checksum.
(ii) A backfill of seven past dates: the history before them as one batch, then seven daily
     deliveries (`replace="logical_date"`), each holding its day's plays plus a few late
     plays of two to five days earlier held back from their own day, each followed by an
     incremental run of +fct_plays +fct_sessions (as the daily DAG does; the other marts
     are full rebuilds of the current raw data, so only these two carry state from run to
     run). Then every mart is built and checksummed; then the whole backfill again, then
     one middle date again, then a single `--full-refresh` over the same raw data: all
     four states are identical.

Checksum (tests/support/marts.py): md5 over md5(row::text) of every row, ordered by the
mart's key. No column is excluded: no mart holds a build time, batch id or load time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import psycopg
import pytest

from tests.support.marts import marts_state, run_dbt

pytestmark = [pytest.mark.integration]

END = dt.date(2026, 3, 1)
BACKFILL = [END - dt.timedelta(days=7 - i) for i in range(7)]  # 2026-02-22 .. 02-28
INCREMENTAL = ["--select", "+fct_plays", "+fct_sessions"]


def _world():
    from extract.synthetic import SyntheticConfig, generate_world

    return generate_world(SyntheticConfig(seed=5, n_users=40, n_tracks=300, days=60, end_date=END))


def _load(conn, frame: pl.DataFrame, table, logical_date: dt.date, replace: str) -> None:
    from warehouse.loader import load_batch

    load_batch(conn, frame, table, source="synthetic", logical_date=logical_date, replace=replace)


@pytest.fixture(scope="module")
def world():
    return _world()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory, module_warehouse_url: str) -> Path:
    """dbt's scratch folder, with the seed (country codes) loaded once."""
    folder = tmp_path_factory.mktemp("dbt_idempotency")
    run_dbt(module_warehouse_url, folder, "seed")
    return folder


def _deliveries(world) -> tuple[pl.DataFrame, dict[dt.date, pl.DataFrame]]:
    """(history before the backfill, the plays delivered on each backfill date)."""
    plays = world.plays.with_columns(
        pl.col("played_at").dt.convert_time_zone("UTC").dt.date().alias("day")
    )
    history = plays.filter(pl.col("day") < BACKFILL[0])
    window = plays.filter(pl.col("day") >= BACKFILL[0]).with_row_index("i")
    # every 25th play arrives late, 2..5 days after its day (capped at the last date)
    late = window.filter(pl.col("i") % 25 == 0).with_columns(
        pl.min_horizontal(
            pl.col("day") + pl.duration(days=2 + pl.col("i") % 4), pl.lit(BACKFILL[-1])
        ).alias("delivered")
    )
    on_time = window.join(late.select("i"), on="i", how="anti").with_columns(
        pl.col("day").alias("delivered")
    )
    both = pl.concat([on_time, late])
    deliveries = {
        date: both.filter(pl.col("delivered") == date).drop("i", "day", "delivered")
        for date in BACKFILL
    }
    return history.drop("day"), deliveries


def _backfill(url: str, scratch: Path, deliveries: dict, dates) -> list[float]:
    from warehouse.raw_tables import SYNTHETIC_PLAYS

    seconds = []
    for date in dates:
        with psycopg.connect(url) as conn:
            _load(conn, deliveries[date], SYNTHETIC_PLAYS, date, "logical_date")
        seconds.append(run_dbt(url, scratch, "run", *INCREMENTAL).seconds)
    return seconds


def _state(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return marts_state(conn)


def test_same_logical_date_three_times(module_warehouse_url: str, scratch: Path, world):
    from extract.synthetic_load import load_world

    url = module_warehouse_url
    states = []
    for _ in range(3):
        with psycopg.connect(url) as conn:
            load_world(conn, world, logical_date=END)
        run_dbt(url, scratch, "run")
        states.append(_state(url))
    assert states[0]["fct_plays"][0] > 1000
    assert all(count > 0 for count, _ in states[0].values()), states[0]
    assert states[1] == states[0]
    assert states[2] == states[0]


def test_backfill_of_seven_dates_reruns_and_full_refresh(
    module_warehouse_url: str, scratch: Path, world
):
    from extract.synthetic_load import load_world
    from warehouse.raw_tables import SYNTHETIC_PLAYS

    url = module_warehouse_url
    history, deliveries = _deliveries(world)
    assert all(frame.height > 0 for frame in deliveries.values())
    with psycopg.connect(url) as conn:
        # catalogue and plays of the world as a snapshot, then the plays from the backfill
        # window on are taken out again: the history is what the warehouse held before
        load_world(conn, world, logical_date=END)
        _load(conn, history, SYNTHETIC_PLAYS, END, "source")
    run_dbt(url, scratch, "run", "--full-refresh")

    timings = {"first": _backfill(url, scratch, deliveries, BACKFILL)}
    run_dbt(url, scratch, "run")
    first = _state(url)
    with psycopg.connect(url) as conn:
        raw = conn.execute("select count(*) from raw.synthetic_plays").fetchone()[0]
    assert raw == world.plays.height

    timings["again"] = _backfill(url, scratch, deliveries, BACKFILL)
    run_dbt(url, scratch, "run")
    assert _state(url) == first, "the backfill run a second time changed the marts"

    timings["middle"] = _backfill(url, scratch, deliveries, [BACKFILL[3]])
    run_dbt(url, scratch, "run")
    assert _state(url) == first, "rerunning a middle date changed the marts"

    run_dbt(url, scratch, "run", "--full-refresh")
    assert _state(url) == first, "the backfilled marts differ from a full refresh"
    print({"incremental_run_seconds": timings, "marts": first})
