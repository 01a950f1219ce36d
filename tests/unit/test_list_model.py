"""The list model's pieces without a warehouse: source flags, labels, folds, the matrix, a fit
that learns an obvious signal, cross-fitting and the saved model's round trip."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ml import list_model
from ml.features import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES


def _frame(n_users: int = 200, per_user: int = 20, seed: int = 3) -> pl.DataFrame:
    """Candidates whose label follows the user's recent plays of the track (plus noise)."""
    rng = np.random.default_rng(seed)
    n = n_users * per_user
    recent = rng.poisson(1.0, n).astype(float)
    replayed = (recent + rng.normal(0, 0.7, n) > 1.2).astype(float)
    columns: dict[str, object] = {
        "user_id": [f"u{i // per_user}" for i in range(n)],
        "track_key": [f"t{i % per_user}" for i in range(n)],
        **{name: rng.normal(size=n) for name in NUMERIC_FEATURES},
        **{name: rng.choice(["a", "b", None], n).tolist() for name in CATEGORICAL_FEATURES},
        "repeat_score": rng.uniform(size=n),
        "user_track_prior_plays": recent * 2,
        "user_track_plays_30d": recent,
        "user_track_days_since_last_play": np.where(recent > 0, rng.uniform(0, 30, n), np.nan),
        "candidate_sources": rng.choice(["listened", "co_listened,content", "popular"], n),
        list_model.LABEL: replayed,
    }
    return list_model.with_source_flags(pl.DataFrame(columns)).drop("candidate_sources")


VOCABULARY = {name: ["a", "b"] for name in CATEGORICAL_FEATURES}


def test_source_flags_follow_candidate_sources() -> None:
    frame = list_model.with_source_flags(pl.DataFrame(
        {"candidate_sources": ["listened", "co_listened,content", None]}))
    assert frame["source_listened"].to_list() == [1.0, 0.0, 0.0]
    assert frame["source_co_listened"].to_list() == [0.0, 1.0, 0.0]
    assert frame["source_content"].to_list() == [0.0, 1.0, 0.0]
    assert frame["source_popular"].to_list() == [0.0, 0.0, 0.0]


def test_labels_are_repeats_or_double_plays_once_each() -> None:
    repeats = pl.DataFrame({"user_id": ["u1", "u1"], "track_key": ["a", "b"]})
    double = pl.DataFrame({"user_id": ["u1", "u2"], "track_key": ["b", "c"]})
    replayed = list_model.labels(repeats, double).sort("user_id", "track_key")
    assert replayed.rows() == [("u1", "a"), ("u1", "b"), ("u2", "c")]
    candidates = pl.DataFrame({"user_id": ["u1", "u1", "u2"], "track_key": ["a", "z", "c"]})
    labelled = list_model.with_labels(candidates, replayed).sort("user_id", "track_key")
    assert labelled[list_model.LABEL].to_list() == [1.0, 0.0, 1.0]


def test_user_folds_are_stable_and_spread() -> None:
    folds = [list_model.user_fold(f"user-{i}", 2) for i in range(1000)]
    assert folds == [list_model.user_fold(f"user-{i}", 2) for i in range(1000)]
    assert 400 < sum(folds) < 600


def test_matrix_appends_the_list_features_in_order() -> None:
    frame = _frame(n_users=3, per_user=2)
    x = list_model.matrix(frame, VOCABULARY)
    assert x.shape == (6, len(list_model.ALL_FEATURES))
    column = list_model.ALL_FEATURES.index("user_track_plays_30d")
    assert x[:, column].tolist() == frame["user_track_plays_30d"].to_list()
    assert list_model.ALL_FEATURES[: len(FEATURES)] == FEATURES


def test_fit_learns_the_signal_and_reports_holdout_metrics() -> None:
    booster, metrics = list_model.fit(_frame(), VOCABULARY)
    assert metrics["holdout_auc"] > 0.8
    assert 0.0 <= metrics["holdout_ndcg_at_20"] <= 1.0
    assert metrics["best_iteration"] >= 1
    gain = dict(zip(list_model.ALL_FEATURES, booster.feature_importance("gain"), strict=True))
    assert max(gain, key=gain.get) in {"user_track_plays_30d", "user_track_prior_plays"}


def test_fit_refuses_a_frame_without_positives() -> None:
    frame = _frame(n_users=10).with_columns(pl.lit(0.0).alias(list_model.LABEL))
    with pytest.raises(ValueError, match="no replayed candidate"):
        list_model.fit(frame, VOCABULARY)


def test_cross_fitted_scores_cover_every_row() -> None:
    frame = _frame()
    scores = list_model.cross_fitted_scores(frame, VOCABULARY)
    assert scores.shape == (frame.height,) and not np.isnan(scores).any()
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(frame[list_model.LABEL].to_numpy(), scores) > 0.8


def test_saved_model_round_trips_and_other_features_are_refused(tmp_path) -> None:
    frame = _frame(n_users=60)
    booster, metrics = list_model.fit(frame, VOCABULARY)
    list_model.save(tmp_path, booster, {"features": list(list_model.ALL_FEATURES),
                                        "metrics": metrics})
    loaded = list_model.load(tmp_path, VOCABULARY)
    assert loaded is not None
    np.testing.assert_allclose(loaded.predict(frame), booster.predict(
        list_model.matrix(frame, VOCABULARY)))
    contributions = loaded.contributions(frame.head(5))
    assert contributions.shape == (5, len(list_model.ALL_FEATURES) + 1)
    list_model.save(tmp_path, booster, {"features": ["something", "else"]})
    assert list_model.load(tmp_path, VOCABULARY) is None
    assert list_model.load(tmp_path / "missing", VOCABULARY) is None
