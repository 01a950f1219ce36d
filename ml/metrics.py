"""Ranking and calibration metrics for the repeat label (see DESIGN.md, evaluation protocol).

Pooled AUC mixes users: a feature that only says "this user repeats a lot" scores well pooled
and is useless for ordering one user's candidates, which is what serving does. The mean of
per-user AUCs measures exactly that within-user ordering, so both are reported.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from sklearn.metrics import log_loss as _sk_log_loss
from sklearn.metrics import roc_auc_score

_EPS = 1e-6


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Pooled ROC AUC; NaN when only one class is present (AUC is undefined then)."""
    if len(np.unique(labels)) < 2:
        return math.nan
    return float(roc_auc_score(labels, scores))


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Binary log loss with probabilities clipped away from 0 and 1."""
    clipped = np.clip(probabilities, _EPS, 1 - _EPS)
    return float(_sk_log_loss(labels, clipped, labels=[0, 1]))


def mean_user_auc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    """Mean per-user AUC over users with both classes, and how many users that was.

    Uses the rank-sum (Mann-Whitney) form with average ranks for ties, grouped in polars, so
    it stays fast with tens of thousands of users. NaN and 0 when no user has both classes.
    """
    frame = pl.DataFrame({"user": users, "label": labels, "score": scores}).with_columns(
        pl.col("score").rank("average").over("user").alias("rank")
    )
    per_user = (
        frame.group_by("user")
        .agg(
            pos=(pl.col("label") == 1).sum(),
            neg=(pl.col("label") == 0).sum(),
            pos_rank_sum=pl.col("rank").filter(pl.col("label") == 1).sum(),
        )
        .filter((pl.col("pos") > 0) & (pl.col("neg") > 0))
        .with_columns(
            user_auc=(pl.col("pos_rank_sum") - pl.col("pos") * (pl.col("pos") + 1) / 2)
            / (pl.col("pos") * pl.col("neg"))
        )
    )
    if per_user.height == 0:
        return math.nan, 0
    mean = per_user["user_auc"].mean()
    assert isinstance(mean, (int, float))  # a float column with rows
    return float(mean), per_user.height
