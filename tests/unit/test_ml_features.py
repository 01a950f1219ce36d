"""The model's feature list and categorical encoding (ml.features)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ml.features import (
    CATEGORICAL_FEATURES,
    FEATURES,
    NUMERIC_FEATURES,
    feature_schema,
    fit_vocabulary,
    to_matrix,
)

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "data_contracts.md"


def _contract_columns() -> dict[str, str]:
    """Column name → type from the contract's "Feature columns" table."""
    text = CONTRACT.read_text(encoding="utf-8")
    section = re.split(r"\n#{2,3} ", text.split("### Feature columns", 1)[1], maxsplit=1)[0]
    columns: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([a-z0-9_]+)`", cells[0]):
            columns[name] = cells[1]
    return columns


def _frame(**categoricals: list[str | None]) -> pl.DataFrame:
    n = len(next(iter(categoricals.values())))
    data = {name: [float(i) for i in range(n)] for name in NUMERIC_FEATURES}
    data.update({name: categoricals.get(name, [None] * n) for name in CATEGORICAL_FEATURES})
    return pl.DataFrame(data, schema=feature_schema())


def test_feature_list_matches_the_contract() -> None:
    contract = _contract_columns()
    assert sorted(FEATURES) == sorted(contract)
    assert len(set(FEATURES)) == len(FEATURES)
    assert {name for name, kind in contract.items() if kind == "text"} == set(CATEGORICAL_FEATURES)


def test_vocabulary_is_sorted_distinct_and_ignores_nulls() -> None:
    frame = _frame(genre=["rock", "jazz", None, "rock"], country=["US", "US", "DE", None])
    vocabulary = fit_vocabulary(frame)
    assert vocabulary["genre"] == ["jazz", "rock"]
    assert vocabulary["country"] == ["DE", "US"]
    assert vocabulary["age_band"] == []


def test_scoring_reuses_the_training_codes_and_unseen_is_missing() -> None:
    train = _frame(genre=["rock", "jazz", "pop"], country=["US", "DE", "US"])
    vocabulary = fit_vocabulary(train)
    # Scoring rows in another order, with a category and a NULL the model never saw.
    score = _frame(genre=["pop", "polka", None, "jazz"], country=["DE", "US", "FR", "US"])
    x_train = to_matrix(train, vocabulary)
    x_score = to_matrix(score, vocabulary)
    genre = FEATURES.index("genre")
    country = FEATURES.index("country")
    assert x_train[:, genre].tolist() == [2.0, 0.0, 1.0]  # jazz=0, pop=1, rock=2
    assert x_score[0, genre] == 1.0 and x_score[3, genre] == 0.0
    assert math.isnan(x_score[1, genre]) and math.isnan(x_score[2, genre])
    np.testing.assert_array_equal(x_score[:, country], [0.0, 1.0, np.nan, 1.0])


def test_matrix_is_float_in_feature_order_with_nan_for_nulls() -> None:
    frame = _frame(genre=["rock", "rock"]).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("track_prior_repeat_rate")
    )
    # Extra and reordered columns do not matter: the matrix follows FEATURES.
    frame = frame.select(reversed(frame.columns)).with_columns(pl.lit("x").alias("user_id"))
    matrix = to_matrix(frame, fit_vocabulary(frame))
    assert matrix.dtype == np.float64 and matrix.shape == (2, len(FEATURES))
    assert np.isnan(matrix[:, FEATURES.index("track_prior_repeat_rate")]).all()
    assert matrix[1, FEATURES.index("user_prior_plays")] == 1.0


def test_missing_feature_column_is_an_error() -> None:
    frame = _frame(genre=["rock"]).drop("tempo")
    with pytest.raises(ValueError, match="tempo"):
        to_matrix(frame, fit_vocabulary(_frame(genre=["rock"])))
