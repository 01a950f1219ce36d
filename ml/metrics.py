"""Ranking and calibration metrics for the repeat label (see DESIGN.md, evaluation protocol).

Pooled AUC mixes users: a feature that only says "this user repeats a lot" scores well pooled
and is useless for ordering one user's candidates, which is what serving does. The mean of
per-user AUCs measures exactly that within-user ordering, so both are reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeVar

import numpy as np
import polars as pl
from sklearn.metrics import log_loss as _sk_log_loss
from sklearn.metrics import roc_auc_score

_EPS = 1e-6
K = TypeVar("K")


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Pooled ROC AUC; NaN when only one class is present (AUC is undefined then)."""
    if len(np.unique(labels)) < 2:
        return math.nan
    return float(roc_auc_score(labels, scores))


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Binary log loss with probabilities clipped away from 0 and 1."""
    clipped = np.clip(probabilities, _EPS, 1 - _EPS)
    return float(_sk_log_loss(labels, clipped, labels=[0, 1]))


def per_user_auc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> pl.DataFrame:
    """`user`, `user_auc` of every user with both classes, by the rank-sum (Mann-Whitney)
    form with average ranks for ties, grouped in polars (fast with tens of thousands of
    users)."""
    frame = pl.DataFrame({"user": users, "label": labels, "score": scores}).with_columns(
        pl.col("score").rank("average").over("user").alias("rank")
    )
    return (
        frame.group_by("user")
        .agg(
            pos=(pl.col("label") == 1).sum(),
            neg=(pl.col("label") == 0).sum(),
            pos_rank_sum=pl.col("rank").filter(pl.col("label") == 1).sum(),
        )
        .filter((pl.col("pos") > 0) & (pl.col("neg") > 0))
        .select(
            "user",
            user_auc=(pl.col("pos_rank_sum") - pl.col("pos") * (pl.col("pos") + 1) / 2)
            / (pl.col("pos") * pl.col("neg")),
        )
    )


def mean_user_auc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    """Mean per-user AUC over users with both classes (`per_user_auc`), and how many users
    that was; NaN and 0 when no user has both classes."""
    per_user = per_user_auc(users, labels, scores)
    if per_user.height == 0:
        return math.nan, 0
    mean = per_user["user_auc"].mean()
    assert isinstance(mean, (int, float))  # a float column with rows
    return float(mean), per_user.height


def search_score(pooled_auc: float, user_auc: float) -> float:
    """What the training search and its blend weight are chosen by: the mean of pooled and
    mean per-user AUC (either alone when the other is undefined; NaN when both are)."""
    defined = [value for value in (pooled_auc, user_auc) if not math.isnan(value)]
    return sum(defined) / len(defined) if defined else math.nan


def user_bootstrap_scores(
    users: np.ndarray,
    labels: np.ndarray,
    predictions: Mapping[K, np.ndarray],
    *,
    rounds: int = 100,
    seed: int = 0,
) -> dict[K, np.ndarray]:
    """Each prediction's `search_score` in `rounds` resamples of whole users drawn with
    replacement: users are the independent unit, not rows. Every prediction sees the same
    resamples, so the difference of two predictions' scores is paired. A resample weighs
    each user's rows by how often it drew the user, so nothing is re-sorted per round. A
    round that drew no pair to compare (say only listeners without a negative) is NaN."""
    codes, inverse = np.unique(users, return_inverse=True)
    draws = np.random.default_rng(seed).multinomial(
        len(codes), np.full(len(codes), 1.0 / len(codes)), size=rounds
    )  # rounds x users: how often each user was drawn
    result = {}
    for key, scores in predictions.items():
        per_user = per_user_auc(inverse, labels, scores)
        user_index = per_user["user"].to_numpy()
        user_aucs = per_user["user_auc"].to_numpy()
        order = np.argsort(scores, kind="stable")
        sorted_scores = scores[order]
        starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
        positive = labels[order] == 1
        row_user = inverse[order]
        values = np.empty(rounds)
        for round_ in range(rounds):
            weights = draws[round_][row_user].astype(np.float64)
            pos = np.add.reduceat(np.where(positive, weights, 0.0), starts)
            neg = np.add.reduceat(np.where(positive, 0.0, weights), starts)
            pairs = pos.sum() * neg.sum()
            pooled = (
                float((pos * (np.cumsum(neg) - neg + 0.5 * neg)).sum() / pairs)
                if pairs
                else math.nan
            )
            counts = draws[round_][user_index]
            within = float((counts * user_aucs).sum() / counts.sum()) if counts.sum() else math.nan
            values[round_] = search_score(pooled, within)
        result[key] = values
    return result
