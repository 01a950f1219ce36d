"""The great-expectations checkpoints on real PostgreSQL data, with real GE (no mocks).

A module database gets the small synthetic world and a real `dbt build`; then:
- clean `raw` and `marts` checkpoints pass and store their rows in `quality.*`;
- planted bad data fails with a readable summary naming the asset, the rule and the count,
  and is stored with success = false: a future timestamp in a raw batch, a duplicated
  play_id and a censored pair labelled 1 in the marts, a row count far below the previous
  run's, a table a load reported that holds no batch;
- warning-level expectations (plays without genre / audio features) are stored, not fatal.

Every mutation is undone at the end of its test (the tests share the module database).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from quality import QualityCheckFailed
from quality.checkpoints import check_marts, check_raw
from quality.config import Thresholds
from tests.conftest import SMALL_WORLD
from tests.support.marts import run_dbt

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = SMALL_WORLD["end_date"]


@pytest.fixture(scope="module")
def world(
    module_warehouse_url: str, small_world_config, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The module's database with the small synthetic world in raw.* and dbt's marts."""
    from extract.synthetic_load import generate_and_load

    with psycopg.connect(module_warehouse_url) as conn:
        generate_and_load(conn, small_world_config)
    _dbt(module_warehouse_url, tmp_path_factory.mktemp("dbt"))
    return module_warehouse_url


def _dbt(url: str, scratch: Path) -> None:
    """`dbt build` of the models, seeds and data tests (dbt's unit tests are
    test_dbt_build.py's business, not this module's) against `url`, in-process."""
    run_dbt(url, scratch, "build", "--exclude-resource-type", "unit_test")


@pytest.fixture(scope="module")
def baseline(world: str) -> str:
    """One clean run of each checkpoint, so later runs have row counts to compare with."""
    check_raw(world, DAY)
    check_marts(world, DAY)
    return world


def _stored_run(url: str, run_id) -> tuple:
    with psycopg.connect(url) as conn:
        run = conn.execute(
            "select checkpoint, logical_date, success, evaluated, failed,"
            " warnings from quality.checkpoint_runs where run_id = %s",
            [run_id],
        ).fetchone()
        failed = conn.execute(
            "select asset, expectation_type, column_name, unexpected_count"
            " from quality.expectation_results"
            " where run_id = %s and not success order by position",
            [run_id],
        ).fetchall()
    return run, failed


@contextmanager
def mutated(url: str, table: str, *statements: str) -> Iterator[None]:
    """Run `statements` on marts.<table> (committed, so GE sees them); restore it after."""
    live, saved = sql.Identifier("marts", table), sql.Identifier("marts", f"{table}_saved")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("create table {} as select * from {}").format(saved, live))
        try:
            for statement in statements:
                conn.execute(statement)
            yield
        finally:
            conn.execute(sql.SQL("truncate {}").format(live))
            conn.execute(sql.SQL("insert into {} select * from {}").format(live, saved))
            conn.execute(sql.SQL("drop table {}").format(saved))


def test_clean_runs_pass_and_are_stored(world: str) -> None:
    raw = check_raw(world, DAY)
    marts = check_marts(world, DAY)
    print(
        f"\ncheckpoint timings (small world): raw {raw.seconds:.2f} s "
        f"({len(raw.outcomes)} expectations), marts {marts.seconds:.2f} s "
        f"({len(marts.outcomes)} expectations)"
    )
    assert raw.success and not raw.warnings
    assert marts.success and not marts.warnings
    assert {o.asset for o in raw.outcomes} == {
        "raw.synthetic_users",
        "raw.synthetic_artists",
        "raw.synthetic_tracks",
        "raw.synthetic_plays",
    }
    assert {o.asset for o in marts.outcomes} >= {
        "marts.fct_plays",
        "marts.fct_first_plays",
        "marts.dim_tracks",
        "marts.dim_users",
        "marts.fct_candidate_features",
        "marts.fct_plays_track_coverage",
    }
    for summary in (raw, marts):
        run, failed = _stored_run(world, summary.run_id)
        assert run == (summary.checkpoint, DAY, True, len(summary.outcomes), 0, 0)
        assert failed == []
    with psycopg.connect(world) as conn:
        stored = conn.execute(
            "select observed::bigint from quality.expectation_results where run_id = %s"
            " and asset = 'raw.synthetic_users'"
            " and expectation_type = 'expect_table_row_count_to_be_between'",
            [raw.run_id],
        ).fetchone()[0]
    assert stored == SMALL_WORLD["n_users"]


def test_future_timestamp_in_a_raw_batch_fails(baseline: str) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    with psycopg.connect(baseline, autocommit=True) as conn:
        conn.execute(
            "insert into raw.synthetic_plays (user_id, track_id, played_at, ms_played,"
            " _batch_id, _source, _logical_date)"
            " select user_id, track_id, %s, ms_played, _batch_id, _source, _logical_date"
            " from raw.synthetic_plays limit 1",
            [future],
        )
        try:
            with pytest.raises(QualityCheckFailed) as failed:
                check_raw(baseline, DAY)
        finally:
            conn.execute("delete from raw.synthetic_plays where played_at = %s", [future])
    message = str(failed.value)
    assert "raw.synthetic_plays" in message and "expect_column_values_to_be_between" in message
    assert "played_at" in message and str(failed.value.summary.run_id) in message
    run, stored = _stored_run(baseline, failed.value.summary.run_id)
    assert run[2] is False and run[4] == 1
    assert stored == [("raw.synthetic_plays", "expect_column_values_to_be_between", "played_at", 1)]


def test_duplicate_key_and_labelled_censored_pair_in_the_marts_fail(baseline: str) -> None:
    with (
        mutated(
            baseline,
            "fct_plays",
            "insert into marts.fct_plays select * from marts.fct_plays limit 1",
        ),
        mutated(
            baseline,
            "fct_first_plays",
            "update marts.fct_first_plays set repeat_30d = 1 where ctid = (select ctid"
            " from marts.fct_first_plays where is_censored limit 1)",
        ),
        pytest.raises(QualityCheckFailed) as failed,
    ):
        check_marts(baseline, DAY)
    message = str(failed.value)
    for text in (
        "marts.fct_plays",
        "expect_column_values_to_be_unique",
        "play_id",
        "marts.fct_first_plays",
        "repeat_30d NULL iff is_censored",
    ):
        assert text in message, message
    run, stored = _stored_run(baseline, failed.value.summary.run_id)
    assert run[2] is False
    assert stored == [
        ("marts.fct_plays", "expect_column_values_to_be_unique", "play_id", 2),
        ("marts.fct_first_plays", "unexpected_rows_expectation", None, 1),
    ]


def test_row_count_far_below_the_previous_run_fails(baseline: str) -> None:
    with mutated(
        baseline,
        "dim_users",
        "delete from marts.dim_users where user_id not in"
        " (select user_id from marts.dim_users order by user_id limit 10)",
    ):
        with pytest.raises(QualityCheckFailed) as failed:
            check_marts(baseline, DAY)
        # Deliberate? Then one run without row bounds passes and becomes the new baseline.
        check_marts(baseline, DAY, thresholds=Thresholds(row_bounds=False))
    message = str(failed.value)
    assert "marts.dim_users" in message and "expect_table_row_count_to_be_between" in message
    assert "60..240 rows (previous 120)" in message, message
    run, stored = _stored_run(baseline, failed.value.summary.run_id)
    assert run[2] is False
    assert stored == [("marts.dim_users", "expect_table_row_count_to_be_between", None, None)]
    # Restore the baseline for the tests after this one.
    check_marts(baseline, DAY, thresholds=Thresholds(row_bounds=False))


def test_a_table_a_load_reported_but_without_batch_fails(baseline: str) -> None:
    with pytest.raises(QualityCheckFailed) as failed:
        check_raw(baseline, DAY, expected_tables=["kaggle_tracks"])
    assert "raw.kaggle_tracks" in str(failed.value)
    assert [o.expected for o in failed.value.summary.failures] == ["at least 1 row"]


def test_warnings_are_stored_but_do_not_fail(baseline: str) -> None:
    with mutated(
        baseline, "dim_tracks", "update marts.dim_tracks set genre = null, danceability = null"
    ):
        summary = check_marts(baseline, DAY)
    assert summary.success
    assert [(o.column, o.severity) for o in summary.warnings] == [
        ("has_genre", "warning"),
        ("has_audio_features", "warning"),
    ]
    run, stored = _stored_run(baseline, summary.run_id)
    assert run[2] is True and run[4:] == (0, 2)
    assert [row[2] for row in stored] == ["has_genre", "has_audio_features"]


def test_cli_runs_a_checkpoint(baseline: str, monkeypatch, capsys, tmp_path: Path) -> None:
    from quality.__main__ import main

    monkeypatch.setenv("WAREHOUSE_URL", baseline)
    assert main(["check", "raw", "--date", DAY.isoformat(), "--no-store"]) == 0
    assert "quality checkpoint 'raw'" in capsys.readouterr().out
    assert main(["check", "raw", "--date", "2020-01-01", "--no-store"]) == 0  # nothing loaded
