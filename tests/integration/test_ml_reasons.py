"""Reasons from LightGBM contributions, the retrain policy and restore, on the small world.

A real model trained on the marts dbt builds from the small synthetic world; every published
row's reason must come from the scorer (not publish's fallback sentence), name a real feature of
the model with the candidate's actual value, and never state a number or a name the marts
contradict.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import psycopg
import pytest

from ml import list_model
from ml.features import FEATURES
from ml.policy import ROLLED_BACK, should_train
from ml.publish import publish
from ml.restore import restore
from ml.score import FALLBACK_REASON, score
from ml.train import train
from tests.support.marts import load_and_build, train_score_publish

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(
    module_warehouse_url: str, small_world_config, tmp_path_factory: pytest.TempPathFactory
) -> str:
    return load_and_build(
        module_warehouse_url, small_world_config, tmp_path_factory.mktemp("dbt-reasons")
    )


@pytest.fixture(scope="module")
def published(built: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    artifacts = tmp_path_factory.mktemp("reasons-artifacts")
    return train_score_publish(built, artifacts), artifacts


def _published_rows(url: str) -> pl.DataFrame:
    query = """
        select r.user_id, r.track_key, r.rank, r.reason, s.reason as scored_reason,
               s.reason_features::text as reason_features, t.artist_name,
               f.user_artist_prior_tracks, f.user_artist_prior_plays, f.user_genre_share,
               f.track_plays_7d, f.track_plays_28d, f.genre
        from serving.recommendations r
        join ml.scores s using (model_version, user_id, track_key)
        join marts.fct_candidate_features f using (user_id, track_key)
        left join marts.dim_tracks t using (track_key)
    """
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        names = [c.name for c in cur.description]
        return pl.DataFrame(cur.fetchall(), schema=names, orient="row", infer_schema_length=None)


def test_every_published_row_has_a_reason_from_its_contributions(built, published) -> None:
    import json

    rows = _published_rows(built)
    assert rows.height > 0 and rows["reason"].null_count() == 0
    assert (rows["reason"] == rows["scored_reason"]).all()  # the scorer's, not the fallback
    assert (rows["reason"].str.len_chars() > 0).all()
    explained = 0
    for row in rows.iter_rows(named=True):
        top = json.loads(row["reason_features"])
        said = [item for item in top if item["said"]]
        if row["reason"] == FALLBACK_REASON:
            assert not said
            continue
        explained += 1
        assert said and all(item["feature"] in FEATURES for item in said), row
        assert all(item["contribution"] > 0 for item in top), row
        for item in said:  # the value shown is the candidate's own
            mart_value = row.get(item["feature"])
            if mart_value is not None and item["value"] is not None:
                if isinstance(mart_value, str):
                    assert item["value"] == mart_value
                else:
                    assert float(item["value"]) == pytest.approx(float(mart_value), abs=1e-6)
    assert explained >= 0.95 * rows.height
    # Reasons differ across rows, and within a user's list.
    assert rows["reason"].n_unique() > rows.height / 10
    per_user = rows.group_by("user_id").agg(pl.col("reason").n_unique().alias("distinct"))
    assert per_user["distinct"].median() >= 3
    print("\n".join(rows.sample(5, seed=1)["reason"].to_list()))


def test_no_reason_says_something_false(built, published) -> None:
    rows = _published_rows(built)
    checks = {
        r"You've played (?P<n>[\d,]+) tracks by (?P<artist>.+?)(?:\. |$)": (
            "user_artist_prior_tracks",
            "artist",
        ),
        r"You've played a track by (?P<artist>.+?)(?:\. |$)": ("user_artist_prior_tracks", "one"),
        r"You've played (?P<artist>.+?) (?P<n>[\d,]+) times(?:\. |$)": (
            "user_artist_prior_plays",
            "artist",
        ),
        r"(?:^|\. )(?P<genre>[^.]+?) is (?P<n>\d+)% of your listening": ("user_genre_share", "pct"),
        r"Trending: (?P<n>[\d,]+) plays this week": ("track_plays_7d", "count"),
        r"(?:^|\. )(?P<n>[\d,]+) plays in the last 4 weeks": ("track_plays_28d", "count"),
    }
    seen: dict[str, int] = {}
    for row in rows.iter_rows(named=True):
        for pattern, (feature, kind) in checks.items():
            match = re.search(pattern, row["reason"])
            if not match:
                continue
            seen[feature] = seen.get(feature, 0) + 1
            value = row[feature]
            if kind == "one":
                assert value == 1 and match["artist"] == row["artist_name"], row
            elif kind == "pct":
                assert int(match["n"]) == round(100 * value), row
                assert match["genre"].lower() == row["genre"].lower(), row
            else:
                assert int(match["n"].replace(",", "")) == round(value), row
                if kind == "artist":
                    assert match["artist"] == row["artist_name"], row
    print("checked sentences per feature:", seen)
    assert sum(seen.values()) > rows.height / 4, seen  # the checks saw a good share of rows


def test_a_fresh_model_on_the_same_candidates_is_not_retrained(built, published) -> None:
    version, _ = published
    with psycopg.connect(built) as conn:
        decision = should_train(conn, max_age_days=7, drift_threshold=0.2)
        forced = should_train(conn, force=True)
        stored = conn.execute(
            "select action, model_version, details->'psi' "
            "from ml.policy_decisions order by decision_id"
        ).fetchall()
    assert not decision.train, decision
    assert decision.details["max_psi"] == 0.0  # the reference is these very candidates
    assert forced.train and forced.reason == "forced"
    assert [(a, v) for a, v, _ in stored[-2:]] == [("skip", version), ("train", version)]


def test_a_model_trained_on_another_feature_list_is_retrained(built, published) -> None:
    """After a release changes ml/features.py, the old model can't score: train, even
    though it is fresh."""
    version, _ = published
    # force_rollback: leave the run as it was for the other tests
    with psycopg.connect(built) as conn, conn.transaction(force_rollback=True):
        conn.execute(
            "update ml.model_runs set features = features - 0 where model_version = %s", [version]
        )
        decision = should_train(conn, record=False)
    assert decision.train and "different feature list" in decision.reason, decision


def test_a_model_whose_list_model_has_other_features_is_retrained(built, published) -> None:
    """After a release changes ml/list_model.py's features, the lists would fall back to the
    repeat model's: train, even though the model is fresh."""
    version, artifacts = published
    folder = artifacts / version
    with psycopg.connect(built) as conn:
        assert not should_train(conn, record=False).train
        list_model.write_sidecar(
            folder, {"features": list(list_model.ALL_FEATURES)[1:], "used": True}
        )
        try:
            decision = should_train(conn, record=False)
        finally:
            (folder / list_model.SIDECAR_FILE).unlink()
    assert decision.train and "list model" in decision.reason, decision


def test_restore_rolls_back_to_a_kept_publish_else_rescores(built, published) -> None:
    first, artifacts = published
    with psycopg.connect(built) as conn:
        second = train(conn, artifacts_dir=artifacts, validation_days=30).model_version
        score(conn, model_version=second, artifacts_dir=artifacts)
        publish(conn, model_version=second)

        restored = restore(conn, first, artifacts_dir=artifacts)
        assert (restored.how, restored.retired) == ("rollback", [second])
        current = conn.execute(
            "select model_version from serving.publishes where is_current"
        ).fetchone()[0]
        statuses = dict(conn.execute("select model_version, status from ml.model_runs").fetchall())
        assert current == first and statuses[second] == ROLLED_BACK
        # The policy and the scorer now see the restored model as the latest.
        assert should_train(conn, record=False).details["model_version"] == first

        # The second model's publish is dropped by retention (the next publish keeps only
        # itself): restoring it now rescores.
        conn.commit()
        publish(conn, model_version=first, keep=1)
        assert (
            conn.execute(
                "select count(*) from serving.publishes where dropped_at is null"
            ).fetchone()[0]
            == 1
        )
        again = restore(conn, second, artifacts_dir=artifacts)
        assert again.how == "rescored" and again.rows > 0
        current = conn.execute(
            "select model_version from serving.publishes where is_current"
        ).fetchone()[0]
        restores = conn.execute(
            "select model_version, details->>'how' from "
            "ml.policy_decisions where action = 'restore' "
            "order by decision_id"
        ).fetchall()
    assert current == second
    assert restores == [(first, "rollback"), (second, "rescored")]
