"""ml.ranking: recall@k and NDCG@k on hand-computed lists, edge cases, and the vectorised
per-user version against the one-user reference."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from ml.ranking import (
    list_metrics,
    ndcg_at_k,
    rank_lists,
    recall_at_k,
    user_list_metrics,
    validation_list_metrics,
)


def test_hand_computed_recall_and_ndcg() -> None:
    ranked = ["a", "b", "c", "d", "e"]
    relevant = {"b", "d", "x"}  # "x" was never ranked: it still counts
    assert recall_at_k(ranked, relevant, k=3) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevant, k=5) == pytest.approx(2 / 3)
    # hits at positions 2 and 4; ideal: 3 relevant at positions 1..3
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, relevant, k=5) == pytest.approx(dcg / idcg)
    # at k=3 the ideal list has 3 places, only "b" is in the top 3
    assert ndcg_at_k(ranked, relevant, k=3) == pytest.approx((1 / math.log2(3)) / idcg)


def test_perfect_and_empty_lists() -> None:
    assert ndcg_at_k(["a", "b"], {"a", "b"}, k=20) == pytest.approx(1.0)
    assert recall_at_k(["a", "b"], {"a", "b"}, k=20) == 1.0
    assert ndcg_at_k([], {"a"}, k=20) == 0.0
    assert recall_at_k([], {"a"}, k=20) == 0.0


def test_no_relevant_item_is_undefined_not_zero() -> None:
    assert math.isnan(recall_at_k(["a", "b"], set(), k=20))
    assert math.isnan(ndcg_at_k(["a", "b"], set(), k=20))


def test_fewer_items_than_k() -> None:
    # 2 items, 1 relevant at place 2, k=20: the ideal list has the relevant item first
    assert ndcg_at_k(["a", "b"], {"b"}, k=20) == pytest.approx(1 / math.log2(3))
    assert recall_at_k(["a", "b"], {"b"}, k=20) == 1.0
    # more relevant items than k: recall is capped below 1, NDCG's ideal has k hits
    relevant = {f"t{i}" for i in range(30)}
    ranked = [f"t{i}" for i in range(20)]
    assert recall_at_k(ranked, relevant, k=20) == pytest.approx(20 / 30)
    assert ndcg_at_k(ranked, relevant, k=20) == pytest.approx(1.0)


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError):
        recall_at_k(["a"], {"a"}, k=0)


def test_rank_lists_breaks_ties_by_item_like_publish() -> None:
    frame = pl.DataFrame(
        {
            "user_id": ["u", "u", "u", "v"],
            "track_key": ["c", "a", "b", "z"],
            "score": [0.5, 0.5, 0.9, None],
        }
    )
    ranked = rank_lists(frame, "score", k=2)
    assert ranked.filter(pl.col("user_id") == "u")["track_key"].to_list() == ["b", "a"]
    assert ranked.filter(pl.col("user_id") == "v")["rank"].to_list() == [1]


def test_vectorised_metrics_match_the_reference() -> None:
    rng = np.random.default_rng(5)
    rows = []
    for u in range(25):
        n = int(rng.integers(1, 40))  # some users have fewer than k items
        for t in range(n):
            rows.append((f"u{u}", f"t{t:03d}", float(rng.integers(0, 6)), bool(rng.random() < 0.2)))
    frame = pl.DataFrame(rows, schema=["user_id", "track_key", "score", "rel"], orient="row")
    # plus relevant items outside every list, and a user with a list but nothing relevant
    extra = pl.DataFrame({"user_id": ["u1", "u2", "nobody"], "track_key": ["zz", "zz", "zz"]})
    relevant = pl.concat([frame.filter("rel").select("user_id", "track_key"), extra])
    k = 10
    ranked = rank_lists(frame, "score", k=k)
    per_user = user_list_metrics(ranked, relevant, k=k)
    expected = {}
    for user, group in frame.group_by("user_id"):
        ordered = group.sort(["score", "track_key"], descending=[True, False])["track_key"]
        rel = set(relevant.filter(pl.col("user_id") == user[0])["track_key"])
        if rel:
            items = list(ordered)
            expected[user[0]] = (recall_at_k(items, rel, k), ndcg_at_k(items, rel, k))
    assert set(per_user["user_id"]) == set(expected)  # "nobody" has no list: left out
    for row in per_user.iter_rows(named=True):
        assert row["recall"] == pytest.approx(expected[row["user_id"]][0])
        assert row["ndcg"] == pytest.approx(expected[row["user_id"]][1])
    means = list_metrics(ranked, relevant, k=k)
    assert means["users"] == len(expected)
    assert means["ndcg_at_10"] == pytest.approx(np.mean([v[1] for v in expected.values()]))


def test_validation_lists_use_label_one_pairs_and_skip_users_without() -> None:
    users = np.array(["a", "a", "a", "b", "b"])
    items = np.array(["x", "y", "z", "x", "y"])
    labels = np.array([0, 1, 0, 0, 0])
    scores = np.array([0.9, 0.5, 0.1, 0.3, 0.2])
    result = validation_list_metrics(users, items, labels, scores, k=20)
    assert result["users"] == 1
    assert result["recall_at_20"] == 1.0
    assert result["ndcg_at_20"] == pytest.approx(1 / math.log2(3))


def test_nobody_relevant_gives_nan_means() -> None:
    ranked = pl.DataFrame({"user_id": ["a"], "track_key": ["x"], "rank": [1]})
    relevant = pl.DataFrame(
        {"user_id": [], "track_key": []}, schema={"user_id": pl.String, "track_key": pl.String}
    )
    result = list_metrics(ranked, relevant, k=20)
    assert result["users"] == 0 and math.isnan(result["recall_at_20"])
