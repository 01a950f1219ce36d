"""ml.metrics: the fast per-user AUC agrees with sklearn user by user; the listener bootstrap
resamples whole listeners and pairs its predictions."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score

from ml.metrics import auc, log_loss, mean_user_auc, search_score, user_bootstrap_scores


def test_mean_user_auc_matches_sklearn_per_user_with_ties() -> None:
    rng = np.random.default_rng(3)
    users = np.repeat(np.array(["a", "b", "c", "d"]), 50)
    labels = rng.integers(0, 2, users.size)
    labels[users == "d"] = 1  # one class only: left out
    scores = rng.integers(0, 5, users.size) / 4  # many ties
    expected = [roc_auc_score(labels[users == u], scores[users == u]) for u in ("a", "b", "c")]
    value, counted = mean_user_auc(users, labels, scores)
    assert counted == 3
    assert math.isclose(value, float(np.mean(expected)), rel_tol=1e-12)


def test_undefined_cases_are_nan_not_errors() -> None:
    assert math.isnan(auc(np.array([1, 1]), np.array([0.2, 0.4])))
    value, counted = mean_user_auc(np.array(["a", "a"]), np.array([0, 0]), np.array([0.1, 0.2]))
    assert math.isnan(value) and counted == 0


def test_log_loss_clips_certain_mistakes() -> None:
    assert math.isfinite(log_loss(np.array([1, 0]), np.array([0.0, 1.0])))


def _scored(users: int = 40, rows: int = 30, seed: int = 5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.array([f"u{i:02d}" for i in range(users)]), rows)
    labels = rng.integers(0, 2, ids.size)
    scores = np.round(labels * 0.3 + rng.random(ids.size), 2)  # signal, with ties
    return ids, labels, scores


def test_one_listener_resampled_is_that_listeners_auc_with_ties() -> None:
    _, labels, scores = _scored(users=1)
    users = np.full(labels.size, "only")
    values = user_bootstrap_scores(users, labels, {"model": scores}, rounds=3)["model"]
    # one listener is drawn once every round: pooled and per-user AUC are both its AUC
    assert np.allclose(values, roc_auc_score(labels, scores), rtol=1e-12)


def test_resamples_centre_on_the_score_and_pair_the_predictions() -> None:
    users, labels, scores = _scored()
    noisy = scores + np.random.default_rng(1).normal(scale=0.05, size=scores.size)
    plain = (auc(labels, scores) + mean_user_auc(users, labels, scores)[0]) / 2
    first = user_bootstrap_scores(users, labels, {"a": scores, "b": scores, "c": noisy})
    again = user_bootstrap_scores(users, labels, {"a": scores}, rounds=100)
    assert np.array_equal(first["a"], again["a"])  # a fixed seed: the same resamples
    assert np.array_equal(first["a"], first["b"])  # the same resamples for every prediction
    assert abs(first["a"].mean() - plain) < 0.01
    # paired: two close predictions differ far less than either varies
    assert 0 < np.std(first["a"] - first["c"]) < np.std(first["a"]) / 2


def test_a_resample_without_a_pair_is_nan_without_a_warning(recwarn) -> None:
    users = np.array(["both"] * 4 + ["positive_only"] * 2)
    labels = np.array([1, 0, 1, 0, 1, 1])
    values = user_bootstrap_scores(users, labels, {"m": np.arange(6.0)}, rounds=50)["m"]
    assert np.isnan(values).any() and np.isfinite(values).any()  # 1 in 4 draws only the second
    assert math.isnan(search_score(math.nan, math.nan))
    assert search_score(0.6, math.nan) == 0.6
    assert not recwarn.list
