"""The list model on a real (small) warehouse: training fits it from a scratch build as of
30 days before the data's end (and drops that database), scoring ranks with it, and its
reasons about the user's own plays of a track are true.

The small synthetic world (tests/conftest.py SMALL_WORLD: 120 users, 120 days) is loaded
and built by dbt in this module's own database.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
import pytest

from ml import list_model
from ml.artifacts import load_model
from ml.backtest import SCRATCH_PREFIX, read_candidates_with_history
from ml.features import to_matrix
from ml.publish import publish
from ml.score import score
from ml.train import train
from tests.support.marts import load_and_build

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(module_warehouse_url: str, small_world_config,
          tmp_path_factory: pytest.TempPathFactory) -> str:
    return load_and_build(module_warehouse_url, small_world_config,
                          tmp_path_factory.mktemp("dbt-list-model"))


@pytest.fixture(scope="module")
def published(built: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    artifacts = tmp_path_factory.mktemp("list-model-artifacts")
    with psycopg.connect(built) as conn:
        run = train(conn, artifacts_dir=artifacts, validation_days=30, list_model=True)
        score(conn, model_version=run.model_version, artifacts_dir=artifacts)
        publish(conn, model_version=run.model_version)
    return run.model_version, artifacts


def test_training_fits_the_list_model_and_drops_its_scratch_database(built, published) -> None:
    version, artifacts = published
    folder = artifacts / version
    sidecar = json.loads((folder / list_model.SIDECAR_FILE).read_text())
    assert sidecar["features"] == list(list_model.ALL_FEATURES)
    assert sidecar["candidates"] > 1000
    assert 0.5 < sidecar["metrics"]["holdout_auc"] <= 1.0
    with psycopg.connect(built) as conn:
        stored = conn.execute("select metrics->'list_model' from ml.model_runs "
                              "where model_version = %s", [version]).fetchone()[0]
        end = conn.execute("select max(played_at) from marts.fct_plays").fetchone()[0]
        left = conn.execute("select count(*) from pg_database where datname = %s",
                            [sidecar["scratch_database"]]).fetchone()[0]
    assert stored["cutoff"] == sidecar["cutoff"] and stored["metrics"] == sidecar["metrics"]
    assert sidecar["cutoff"] == (end - timedelta(days=30)).isoformat()
    assert sidecar["scratch_database"].startswith(SCRATCH_PREFIX) and left == 0


def test_scores_are_the_list_models_probabilities(built, published) -> None:
    version, artifacts = published
    model = load_model(artifacts, version)
    ranker = list_model.load(artifacts / version, model.vocabulary)
    assert ranker is not None
    with psycopg.connect(built) as conn:
        candidates = read_candidates_with_history(conn)
        scores = pl.DataFrame(conn.execute(
            "select user_id, track_key, score from ml.scores where model_version = %s",
            [version]).fetchall(), schema=["user_id", "track_key", "score"], orient="row")
    assert scores.height == candidates.height
    sample = candidates.sample(500, seed=3)
    repeat = model.booster.predict(to_matrix(sample, model.vocabulary))
    expected = ranker.predict(sample.with_columns(repeat_score=pl.Series(repeat)))
    stored = sample.select("user_id", "track_key").join(
        scores, on=["user_id", "track_key"], how="left", maintain_order="left")["score"]
    np.testing.assert_allclose(stored.to_numpy(), expected, rtol=1e-9)
    # not the repeat model's ranking
    assert not np.allclose(expected, repeat)


def test_reasons_about_the_users_own_plays_are_true(built, published) -> None:
    query = """
        with as_of as (select max(as_of) as as_of from marts.fct_candidate_features)
        select r.user_id, r.track_key, r.reason, s.reason_features::text,
               count(p.*) filter (where p.played_at > a.as_of - interval '30 days')
                   as plays_30d,
               count(p.*) as prior_plays
        from serving.recommendations r
        join ml.scores s using (model_version, user_id, track_key)
        cross join as_of a
        left join marts.fct_plays p
            on p.user_id = r.user_id and p.track_key = r.track_key and p.played_at <= a.as_of
        group by r.user_id, r.track_key, r.reason, s.reason_features::text
    """
    with psycopg.connect(built) as conn:
        rows = conn.execute(query).fetchall()
    assert rows
    checked = 0
    for _, _, reason, features, plays_30d, prior_plays in rows:
        said = [item["feature"] for item in json.loads(features) if item["said"]]
        assert all(feature in list_model.ALL_FEATURES for feature in said), features
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
    assert len({reason for _, _, reason, *_ in rows}) > len(rows) / 20
