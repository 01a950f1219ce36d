"""Ranking metrics of per-user lists: recall@k and NDCG@k (binary relevance).

Definitions (docs/model.md):

- A user's list is their items ordered by score, highest first; ties are broken by the item
  key, ascending, exactly as `ml.publish` ranks scores into `serving.recommendations`.
- recall@k = (relevant items in the top k) / (all relevant items of the user). The relevant
  set may hold items that are not in the list at all (a backtest's repeats that were never
  candidates): they count in the denominator, so recall measures the list, not the ranker.
- NDCG@k = DCG@k / IDCG@k with DCG@k = sum over the top k of rel_i / log2(i + 1) (i = 1..k)
  and IDCG@k the DCG of an ideal list: min(k, relevant items) relevant items on top.
- precision@k = (relevant items in the top k) / k (a list shorter than k still divides by k).
- A user with no relevant item has no recall or NDCG (undefined, not 0): such users are left
  out of the means, and the number of users that were averaged is reported beside them.
- A list shorter than k is scored as it is (the missing places are not relevant).

`recall_at_k` / `ndcg_at_k` compute one user's values (the reference); `list_metrics`
computes every user's at once in polars and agrees with them (tests/unit/test_ml_ranking.py).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import polars as pl

DEFAULT_K = 20


def recall_at_k(ranked: Sequence[Any], relevant: Collection[Any], k: int = DEFAULT_K) -> float:
    """One user's recall@k; NaN when the user has no relevant item."""
    _check_k(k)
    relevant = set(relevant)
    if not relevant:
        return math.nan
    hits = sum(1 for item in ranked[:k] if item in relevant)
    return hits / len(relevant)


def ndcg_at_k(ranked: Sequence[Any], relevant: Collection[Any], k: int = DEFAULT_K) -> float:
    """One user's NDCG@k with binary relevance; NaN when the user has no relevant item."""
    _check_k(k)
    relevant = set(relevant)
    if not relevant:
        return math.nan
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal


def rank_lists(
    frame: pl.DataFrame,
    score: str,
    *,
    user: str = "user_id",
    item: str = "track_key",
    k: int | None = None,
) -> pl.DataFrame:
    """`user`, `item`, `rank` (1 = best) of every user's items by `score` descending, ties by
    `item` ascending (NULL scores last); with `k`, only the top k of each user."""
    ranked = (
        frame.select(user, item, score)
        .sort([user, score, item], descending=[False, True, False], nulls_last=True)
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over(user))
    )
    if k is not None:
        ranked = ranked.filter(pl.col("rank") <= k)
    return ranked.select(user, item, "rank")


def user_list_metrics(
    ranked: pl.DataFrame,
    relevant: pl.DataFrame,
    *,
    k: int = DEFAULT_K,
    user: str = "user_id",
    item: str = "track_key",
) -> pl.DataFrame:
    """Per user with a list and at least one relevant item: `n_relevant`, `hits`,
    `recall`, `precision`, `ndcg` at k.

    `ranked` has `user`, `item`, `rank` (from `rank_lists`; ranks beyond k are ignored);
    `relevant` has one row per relevant (`user`, `item`) pair (duplicates are ignored).
    """
    _check_k(k)
    relevant = relevant.select(user, item).unique()
    n_relevant = relevant.group_by(user).agg(n_relevant=pl.len())
    top = ranked.filter(pl.col("rank") <= k).join(
        relevant.with_columns(_rel=pl.lit(1.0)), on=[user, item], how="left"
    )
    gains = top.group_by(user).agg(
        hits=pl.col("_rel").fill_null(0.0).sum(),
        dcg=(pl.col("_rel").fill_null(0.0) / (pl.col("rank").cast(pl.Float64) + 1.0).log(2)).sum(),
    )
    ideal_table = pl.DataFrame(
        {
            "_ideal_n": np.arange(0, k + 1),
            "idcg": np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))]),
        },
        schema={"_ideal_n": pl.Int64, "idcg": pl.Float64},
    )
    return (
        gains.join(n_relevant, on=user, how="inner")
        .with_columns(_ideal_n=pl.min_horizontal(pl.col("n_relevant"), pl.lit(k)).cast(pl.Int64))
        .join(ideal_table, on="_ideal_n", how="left")
        .select(
            user,
            "n_relevant",
            pl.col("hits").cast(pl.Int64),
            recall=pl.col("hits") / pl.col("n_relevant"),
            precision=pl.col("hits") / k,
            ndcg=pl.col("dcg") / pl.col("idcg"),
        )
        .sort(user)
    )


def list_metrics(
    ranked: pl.DataFrame,
    relevant: pl.DataFrame,
    *,
    k: int = DEFAULT_K,
    user: str = "user_id",
    item: str = "track_key",
) -> dict[str, float | int]:
    """Means over users (see `user_list_metrics`): `recall_at_k`, `ndcg_at_k`,
    `precision_at_k` (keys carry the actual k, e.g. `recall_at_20`) and `users`, the number
    of users averaged (NaN means when there are none)."""
    per_user = user_list_metrics(ranked, relevant, k=k, user=user, item=item)
    if per_user.height == 0:
        return {
            f"recall_at_{k}": math.nan,
            f"ndcg_at_{k}": math.nan,
            f"precision_at_{k}": math.nan,
            "users": 0,
        }
    return {
        f"recall_at_{k}": _mean(per_user["recall"]),
        f"ndcg_at_{k}": _mean(per_user["ndcg"]),
        f"precision_at_{k}": _mean(per_user["precision"]),
        "users": per_user.height,
    }


def validation_list_metrics(
    users: np.ndarray,
    items: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    k: int = DEFAULT_K,
) -> dict[str, float | int]:
    """Level (a) of the evaluation: each user's validation pairs ranked by `scores`, measured
    against that user's pairs with label 1 (users without one are left out)."""
    frame = pl.DataFrame({"user_id": users, "track_key": items, "label": labels, "score": scores})
    relevant = frame.filter(pl.col("label") == 1).select("user_id", "track_key")
    return list_metrics(rank_lists(frame, "score", k=k), relevant, k=k)


def _mean(values: pl.Series) -> float:
    """The mean of a numeric column with values (polars types it as any Python value)."""
    mean = values.mean()
    assert isinstance(mean, (int, float))
    return float(mean)


def _check_k(k: int) -> None:
    if k <= 0:
        raise ValueError("k must be positive")
