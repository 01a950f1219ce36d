"""The logistic-regression baseline (ml.baselines): its predictions do not depend on batching."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ml import baselines
from ml.features import feature_schema


def _frame(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {}
    for name, dtype in feature_schema().items():
        if dtype == pl.String:
            values = rng.choice(["pop", "rock", "jazz", None], rows).tolist()
        else:
            values = np.where(rng.random(rows) < 0.2, np.nan, rng.gamma(2.0, 3.0, rows))
        columns[name] = pl.Series(name, values, dtype=dtype)
    return pl.DataFrame(columns).fill_nan(None)


def test_batched_predictions_are_those_of_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    train = _frame(400, seed=1)
    labels = (train["user_prior_plays"].fill_null(0.0).to_numpy() > 5).astype(int)
    model = baselines.fit_logistic(train, labels)
    rows = _frame(103, seed=2)
    whole = model.predict(rows)
    monkeypatch.setattr(baselines, "PREDICT_BATCH_ROWS", 10)
    batched = model.predict(rows)
    assert batched.shape == (103,)
    np.testing.assert_array_equal(batched, whole)
