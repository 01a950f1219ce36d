"""Exact TreeSHAP contributions (LightGBM's `pred_contrib`), computed once per distinct
decision pattern of each tree instead of once per row (docs/serving.md, "Reasons").

Path-dependent TreeSHAP reads a row only through the direction it takes at each split, so
rows that agree at every split of a tree get the same contributions from it. Per tree, the
rows' directions are evaluated with LightGBM's own decision rule, `pred_contrib` runs with
that tree alone for one row per pattern, and the result is spread back; trees are summed in
LightGBM's order. A row whose contributions do not sum to its raw score is recomputed with
plain `pred_contrib`, as is every row of a tree with more splits than a 64-bit pattern holds.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

# LightGBM's kZeroThreshold (a float32 constant): |x| within it counts as zero.
_ZERO = float(np.float32(1e-35))
_PATTERN_BITS = 64
_TABLE_BITS = 16  # up to 2**16 possible patterns: numbered through a table, not a sort
_TOLERANCE = 1e-9  # |sum of contributions - raw score| above this: recompute the row exactly


def pred_contrib(booster: lgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """`booster.predict(matrix, pred_contrib=True)` for a binary or regression model:
    per row, each feature's contribution in raw-score units, the last column the bias."""
    rows, width = matrix.shape
    if booster.num_model_per_iteration() != 1:  # multiclass: one column block per class
        return _contrib(booster, matrix)
    # transposed: one contiguous row per feature, so each tree adds whole rows
    result = np.zeros((width + 1, rows))
    if rows == 0:
        return result.T.copy()
    columns = np.asfortranarray(matrix)
    for index, tree in enumerate(booster.dump_model()["tree_info"]):
        splits = _splits(tree["tree_structure"])
        if splits is None:  # too many splits for a pattern: every row, as before
            result += _contrib(booster, matrix, index).T
            continue
        patterns = np.zeros(rows, dtype=np.uint64)
        for bit, split in enumerate(splits):
            left = _goes_left(columns[:, split["split_feature"]], split)
            patterns |= left.astype(np.uint64) << np.uint64(bit)
        inverse, groups = _group(patterns, len(splits))
        one_row = np.empty(groups, dtype=np.intp)
        one_row[inverse] = np.arange(rows)  # any row of a pattern stands for all of them
        contrib = _contrib(booster, matrix[one_row], index).T
        for feature in {int(split["split_feature"]) for split in splits} | {width}:
            result[feature] += contrib[feature][inverse]
    result = np.ascontiguousarray(result.T)
    raw = np.asarray(booster.predict(matrix, raw_score=True))
    off = np.flatnonzero(np.abs(result.sum(axis=1) - raw) > _TOLERANCE)
    if off.size:
        result[off] = _contrib(booster, matrix[off])
    return result


def _group(patterns: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """Each row's pattern numbered 0, 1, ... in ascending order of the patterns (as
    `np.unique`'s inverse), and how many there are. A tree of few splits has few possible
    patterns: they are numbered through a table of all of them, without sorting the rows."""
    if bits > _TABLE_BITS:
        distinct, inverse = np.unique(patterns, return_inverse=True)
        return inverse.ravel(), int(distinct.size)
    seen = np.zeros(1 << bits, dtype=np.intp)
    seen[patterns] = 1
    numbers = np.cumsum(seen) - 1
    return numbers[patterns], int(numbers[-1]) + 1


def _contrib(booster: lgb.Booster, matrix: np.ndarray, tree: int | None = None) -> np.ndarray:
    """Plain `pred_contrib`, of every tree or (`tree`) of that one tree alone. One tree's
    few distinct rows take one thread: hundreds of tiny calls, each an OpenMP region whose
    barrier would wait for a second thread that another process may be holding the core of."""
    if tree is None:
        contrib = booster.predict(matrix, pred_contrib=True)
    else:
        contrib = booster.predict(
            matrix, pred_contrib=True, start_iteration=tree, num_iteration=1, num_threads=1
        )
    assert isinstance(contrib, np.ndarray)  # dense input: dense output
    return contrib


def _splits(root: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tree's splits (None when they exceed 64, or one is of an unknown kind)."""
    splits, stack = [], [root]
    while stack:
        node = stack.pop()
        if "split_feature" not in node:
            continue
        if node["decision_type"] not in ("<=", "=="):
            return None
        splits.append(node)
        stack += [node["left_child"], node["right_child"]]
    return splits if len(splits) <= _PATTERN_BITS else None


def _goes_left(values: np.ndarray, split: dict[str, Any]) -> np.ndarray:
    """LightGBM's decision for a column. Numerical: NaN is 0 unless NaN is the missing
    type; a missing value takes the default direction; otherwise value <= threshold.
    Categorical: left when the value, truncated to an integer, is one of the split's
    categories; NaN and negative values go right."""
    nan = np.isnan(values)
    if split["decision_type"] == "==":
        categories = [int(category) for category in str(split["threshold"]).split("||")]
        codes = np.where(nan, -1, values).astype(np.int64)  # C's cast: toward zero
        return ~nan & (codes >= 0) & np.isin(codes, categories)
    missing = split["missing_type"]
    values = np.where(nan, 0.0, values) if missing != "NaN" else values
    left = values <= split["threshold"]
    if missing == "Zero":
        left = np.where((values > -_ZERO) & (values <= _ZERO), split["default_left"], left)
    elif missing == "NaN":
        left = np.where(nan, split["default_left"], left)
    return np.asarray(left, dtype=bool)
