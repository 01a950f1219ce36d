"""Evaluation on a real (small) warehouse: a training run records every baseline and writes
its report with the plots; the backtest grades the lists at each listener's own cut-off
(their clock minus 30 days) with sane numbers, beside every baseline ranking.

The small synthetic world (tests/conftest.py SMALL_WORLD: 120 users, 120 days) is loaded
and built by dbt in this module's own database.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from ml import list_model, rankers
from ml.backtest import backtest
from ml.baselines import BASELINES, PROBABILITY_BASELINES
from ml.report import PLOTS, REPORT_FILE, regenerate
from ml.train import PREDICTIONS_FILE, train
from tests.support.marts import load_and_build

pytestmark = pytest.mark.integration

K = 20


@pytest.fixture(scope="module")
def built(
    module_warehouse_url: str, small_world_config, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The small world in raw.* and the marts built from it."""
    return load_and_build(
        module_warehouse_url, small_world_config, tmp_path_factory.mktemp("dbt-eval")
    )


@pytest.fixture(scope="module")
def trained(built: str, tmp_path_factory: pytest.TempPathFactory):
    artifacts = tmp_path_factory.mktemp("eval-artifacts")
    with psycopg.connect(built) as conn:
        run = train(conn, artifacts_dir=artifacts, validation_days=30)
    return run, artifacts


def test_training_records_every_baseline_and_writes_the_report(built, trained) -> None:
    run, artifacts = trained
    with psycopg.connect(built) as conn:
        auc, baseline_auc, user_auc, stored = conn.execute(
            "select auc, baseline_auc, user_auc, metrics from ml.model_runs "
            "where model_version = %s",
            [run.model_version],
        ).fetchone()
    assert auc is not None and baseline_auc is not None and user_auc is not None
    assert set(stored["baselines"]) == set(BASELINES)
    for name, values in stored["baselines"].items():
        assert 0.0 <= values["auc"] <= 1.0, name
        assert 0.0 <= values["user_auc"] <= 1.0, name
        assert 0.0 <= values[f"ndcg_at_{K}"] <= 1.0, name
        assert 0.0 <= values[f"recall_at_{K}"] <= 1.0, name
        assert (values["log_loss"] is not None) == (name in PROBABILITY_BASELINES), name
    assert stored["baseline_auc"] == pytest.approx(stored["baselines"]["track_repeat_rate"]["auc"])
    assert 0.0 < stored[f"ndcg_at_{K}"] <= 1.0 and stored["list_users"] > 10
    # the model beats the non-learned baselines within users on this world
    assert stored["user_auc"] > stored["baselines"]["popularity"]["user_auc"]

    folder = artifacts / run.model_version
    report = Path(stored["report_path"])
    assert report == (folder / REPORT_FILE).resolve() and report.is_file()
    text = report.read_text()
    for plot in PLOTS:
        assert (folder / plot).stat().st_size > 5_000, plot
        assert f"]({plot})" in text
    assert "logistic regression" in text and "per-user AUC" in text
    assert (folder / PREDICTIONS_FILE).is_file()


def test_report_command_rebuilds_the_report(built, trained) -> None:
    run, artifacts = trained
    folder = artifacts / run.model_version
    (folder / "roc.png").unlink()
    with psycopg.connect(built) as conn:
        path = regenerate(conn, artifacts, run.model_version)
    assert path == folder / REPORT_FILE and (folder / "roc.png").is_file()


def test_backtest_grades_lists_at_each_listeners_cutoff(built, trained) -> None:
    run, artifacts = trained
    with psycopg.connect(built) as conn:
        # a quick run publishes the repeat model; choose as the nightly job does (rules only)
        choice = rankers.choose(list_model.read_outcomes(conn), list_params=None)
        rankers.save_choice(artifacts / run.model_version, choice)
        result = backtest(conn, artifacts_dir=artifacts, model_version=run.model_version)
        recorded = conn.execute("select model_version, metrics from ml.backtests").fetchall()
        clocks = dict(
            conn.execute("select user_id, clock from intermediate.int_listener_clocks").fetchall()
        )
        cutoffs = dict(
            conn.execute(
                "select user_id, as_of from marts.fct_candidate_outcomes where cutoff_number = 1"
            ).fetchall()
        )
    # each listener is graded at their own clock minus 30 days
    assert cutoffs and all((clocks[user] - as_of).days == 30 for user, as_of in cutoffs.items())
    assert result["users_with_lists"] > 50
    assert result["users_evaluated"] > 30
    assert 0.0 < result["candidate_coverage"] <= 1.0
    rankings = result["rankings"]
    assert {
        *rankers.RULES,
        rankers.REPEAT_MODEL,
        "published",
        "popularity",
        "track_repeat_rate",
        "logistic_regression",
    } <= set(rankings)
    for name, values in rankings.items():
        assert 0.0 <= values[f"recall_at_{K}"] <= 1.0, name
        assert 0.0 <= values[f"ndcg_at_{K}"] <= 1.0, name
    # repeats are of tracks the user already played: the user's own recent plays (DESIGN.md's
    # strong list baseline) beat global popularity, and the published ranking beats the
    # repeat model, which answers another question (first plays)
    recent, popular = rankings["recent_plays"], rankings["popularity"]
    assert recent[f"ndcg_at_{K}"] > popular[f"ndcg_at_{K}"]
    published = rankings["published"][f"ndcg_at_{K}"]
    assert published > rankings[rankers.REPEAT_MODEL][f"ndcg_at_{K}"]
    assert result["strongest_baseline"] != result["published_ranking"]
    folder = artifacts / run.model_version
    stored = json.loads((folder / "backtest.json").read_text())
    assert stored["published_ranking"] == result["published_ranking"]
    assert (folder / "backtest.png").is_file() and (folder / "backtest_listeners.png").is_file()
    assert "Backtest of the published lists" in (folder / "backtest.md").read_text()
    assert [row[0] for row in recorded] == [result["model_version"]]
