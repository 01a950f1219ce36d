"""ml.attribution against LightGBM's own pred_contrib: the same numbers for every row,
whatever the splits (numerical with each missing type, categorical) and the values (NaN,
zero, negative, unseen categories), with rows that share decision patterns."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from ml import attribution

PARAMS: dict[str, Any] = {
    "objective": "binary",
    "num_leaves": 15,
    "min_data_in_leaf": 5,
    "verbose": -1,
    "num_threads": 1,
    "seed": 7,
}


def _world(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.normal(size=rows),  # NaN in training: missing type NaN
            rng.integers(0, 5, size=rows).astype(float),  # never missing in training
            rng.integers(0, 12, size=rows).astype(float),  # categorical codes
            rng.exponential(size=rows) * (rng.random(rows) < 0.6),  # many exact zeros
        ]
    )
    x[rng.random(rows) < 0.15, 0] = np.nan
    x[rng.random(rows) < 0.05, 2] = np.nan
    logit = x[:, 1] - 2 + np.isin(x[:, 2], [1, 4, 7]) + np.nan_to_num(x[:, 0]) + x[:, 3]
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, label


def _scoring_rows(seed: int) -> np.ndarray:
    """Fresh rows, many repeated, with the awkward values the training never saw."""
    x, _ = _world(400, seed)
    x = np.vstack([x, x[:150], x[:150]])
    x[::7, 1] = np.nan  # missing where training had none: counts as 0
    x[::11, 2] = -1.0  # negative category: right
    x[::13, 2] = 3.7  # truncated to 3
    x[::17, 2] = 40.0  # a category never seen
    x[::19, 2] = np.nan
    x[::5, 3] = 0.0
    return x


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_equals_lightgbm_pred_contrib(
    zero_as_missing: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, label = _world(3_000, seed=1)
    data = lgb.Dataset(x, label, categorical_feature=[2], free_raw_data=False)
    booster = lgb.train(PARAMS | {"zero_as_missing": zero_as_missing}, data, num_boost_round=60)
    types = {
        node["missing_type"]
        for tree in booster.dump_model()["tree_info"]
        for node in _nodes(tree["tree_structure"])
    }
    assert ("Zero" if zero_as_missing else "NaN") in types
    rows = _scoring_rows(seed=2)

    expected = np.asarray(booster.predict(rows, pred_contrib=True))
    # no row may need the exact recomputation: every decision was LightGBM's own
    monkeypatch.setattr(attribution, "_contrib", _whole_model_must_not_run(attribution._contrib))
    got = attribution.pred_contrib(booster, rows)

    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_no_rows_and_a_single_leaf_model() -> None:
    x, label = _world(200, seed=3)
    booster = lgb.train(
        PARAMS | {"min_data_in_leaf": 1_000}, lgb.Dataset(x, label), num_boost_round=3
    )
    assert attribution.pred_contrib(booster, x[:0]).shape == (0, x.shape[1] + 1)
    np.testing.assert_allclose(
        attribution.pred_contrib(booster, x), booster.predict(x, pred_contrib=True), atol=1e-12
    )


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    if "split_feature" not in node:
        return []
    return [node, *_nodes(node["left_child"]), *_nodes(node["right_child"])]


def _whole_model_must_not_run(contrib: Any) -> Any:
    def guarded(booster: lgb.Booster, matrix: np.ndarray, tree: int | None = None) -> np.ndarray:
        if tree is None:
            raise AssertionError(f"{len(matrix)} rows fell back to plain pred_contrib")
        return contrib(booster, matrix, tree)

    return guarded
