"""ml.metrics: the fast per-user AUC agrees with sklearn user by user."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score

from ml.metrics import auc, log_loss, mean_user_auc


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
