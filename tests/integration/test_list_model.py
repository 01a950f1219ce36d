"""The list model and the published ranking on a real (small) warehouse: training learns from
the past cut-offs of marts.fct_candidate_outcomes (no second build), the ranking is chosen
on cut-offs 2-3 and graded at cut-off 1, scoring publishes the chosen ranking's
probabilities, and reasons about the listener's own plays of a track are true.

The small synthetic world (tests/conftest.py SMALL_WORLD: 120 users, 120 days) is loaded
and built by dbt in this module's own database.
"""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import psycopg
import pytest

from ml import list_model, rankers
from ml.artifacts import load_model
from ml.db import CANDIDATE_FEATURES, feature_query, read_frame
from ml.publish import publish
from ml.score import Ranking, score
from ml.train import train
from tests.support.marts import load_and_build

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(
    module_warehouse_url: str, small_world_config, tmp_path_factory: pytest.TempPathFactory
) -> str:
    return load_and_build(
        module_warehouse_url, small_world_config, tmp_path_factory.mktemp("dbt-list-model")
    )


@pytest.fixture(scope="module")
def published(built: str, tmp_path_factory: pytest.TempPathFactory):
    artifacts = tmp_path_factory.mktemp("list-model-artifacts")
    with psycopg.connect(built) as conn:
        run = train(conn, artifacts_dir=artifacts, validation_days=30, list_model=True)
        score(conn, model_version=run.model_version, artifacts_dir=artifacts)
        publish(conn, model_version=run.model_version)
    return run, artifacts


def test_training_fits_the_list_model_from_past_cutoffs(built, published) -> None:
    run, artifacts = published
    folder = artifacts / run.model_version
    sidecar = json.loads((folder / list_model.SIDECAR_FILE).read_text())
    assert sidecar["used"] and sidecar["features"] == list(list_model.ALL_FEATURES)
    with psycopg.connect(built) as conn:
        rows, cutoffs = conn.execute(
            "select count(*), count(distinct cutoff_number) from marts.fct_candidate_outcomes"
        ).fetchone()
        stored = conn.execute(
            "select metrics from ml.model_runs where model_version = %s", [run.model_version]
        ).fetchone()[0]
    assert sidecar["rows"] == rows > 1000 and cutoffs >= 2
    assert 0.5 < sidecar["metrics"]["holdout_auc"] <= 1.0
    assert stored["list_model"]["used"] and stored["list_model"]["metrics"] == sidecar["metrics"]
    # the ranking was chosen on cut-offs 2-3 and the lists graded at cut-off 1
    choice = rankers.load_choice(folder)
    assert stored["ranking"]["ranker"] == choice["ranker"]
    assert set(choice["contenders"]) == {*rankers.RULES, rankers.LIST_MODEL}
    graded = stored["backtest"]
    assert graded["published_ranking"] == choice["ranker"]
    assert graded["users_evaluated"] > 30
    assert graded["strongest_baseline"] != graded["published_ranking"]


def test_scores_are_the_chosen_rankings_probabilities(built, published) -> None:
    run, artifacts = published
    model = load_model(artifacts, run.model_version)
    ranking = Ranking.load(artifacts / run.model_version, model)
    keys = {"user_id": pl.String(), "track_key": pl.String(), "candidate_sources": pl.String()}
    select = feature_query(CANDIDATE_FEATURES, keys, extra=list_model.HISTORY_FEATURES)
    with psycopg.connect(built) as conn, conn.transaction():
        candidates = list_model.with_source_flags(read_frame(conn, select))
        scores = pl.DataFrame(
            conn.execute(
                "select user_id, track_key, score from ml.scores where model_version = %s",
                [run.model_version],
            ).fetchall(),
            schema=["user_id", "track_key", "score"],
            orient="row",
        )
    assert scores.height == candidates.height
    sample = candidates.sample(500, seed=3)
    expected = ranking.score(sample)
    stored = sample.select("user_id", "track_key").join(
        scores, on=["user_id", "track_key"], how="left", maintain_order="left"
    )["score"]
    np.testing.assert_allclose(stored.to_numpy(), expected, rtol=1e-9)
    assert ((expected >= 0.0) & (expected <= 1.0)).all()


def test_reasons_about_the_users_own_plays_are_true(built, published) -> None:
    query = """
        select r.user_id, r.track_key, r.reason, s.reason_features::text,
               count(p.*) filter (where p.played_at > f.as_of - interval '30 days')
                   as plays_30d,
               count(p.*) as prior_plays
        from serving.recommendations r
        join ml.scores s using (model_version, user_id, track_key)
        join marts.fct_candidate_features f using (user_id, track_key)
        left join marts.fct_plays p
            on p.user_id = r.user_id and p.track_key = r.track_key and p.played_at <= f.as_of
        group by r.user_id, r.track_key, r.reason, s.reason_features::text
    """
    with psycopg.connect(built) as conn:
        rows = conn.execute(query).fetchall()
    assert rows
    checked = 0
    for _, _, reason, _, plays_30d, prior_plays in rows:
        if match := re.search(r"You played it ([\d,]+) times in the last 30 days", reason):
            assert int(match[1].replace(",", "")) == plays_30d, (reason, plays_30d)
            checked += 1
        elif "You played it in the last 30 days" in reason:
            assert plays_30d == 1, reason
            checked += 1
        if match := re.search(r"You've played it ([\d,]+) times", reason):
            assert int(match[1].replace(",", "")) == prior_plays, (reason, prior_plays)
            checked += 1
    assert checked > len(rows) / 10, checked
