"""The repeat model's time-split search (ml.train._fit) above and below SEARCH_MAX_ROWS, and
its blend weight by the one-standard-error rule (ml.train._blend_weight)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from ml import train
from ml.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, fit_vocabulary


def _rows(users: int = 60, per_user: int = 40, seed: int = 3) -> pl.DataFrame:
    """Labelled first plays whose label follows one feature, `per_user` rows per listener."""
    rng = np.random.default_rng(seed)
    n = users * per_user
    signal = rng.normal(size=n)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    frame = pl.DataFrame(
        {
            "user_id": [f"u{i // per_user:03d}" for i in range(n)],
            "track_key": [f"t{i}" for i in range(n)],
            "first_played_at": [start + dt.timedelta(hours=i % per_user) for i in range(n)],
            train.LABEL: (signal + rng.normal(scale=0.5, size=n) > 0).astype(np.int32),
        }
    )
    return frame.with_columns(
        *(
            pl.Series(name, signal if i == 0 else rng.normal(size=n))
            for i, name in enumerate(NUMERIC_FEATURES)
        ),
        *(pl.lit("a").alias(name) for name in CATEGORICAL_FEATURES),
    )


PARAMS = train.DEFAULT_PARAMS | {"num_boost_round": 60, "early_stopping_rounds": 5}


def test_the_search_reads_every_row_below_the_cap() -> None:
    rows = _rows()
    assert train._search_sample(rows) is rows


def test_above_the_cap_the_search_reads_whole_listeners_the_same_each_run(monkeypatch) -> None:
    monkeypatch.setattr(train, "SEARCH_MAX_ROWS", 500)
    rows = _rows()
    sample = train._search_sample(rows)
    again = train._search_sample(rows.reverse())
    assert 500 <= sample.height < 500 + 40  # up to the listener that crosses the cap
    assert sorted(sample["user_id"].unique()) == sorted(again["user_id"].unique())
    per_user = sample.group_by("user_id").len()["len"]
    assert (per_user == 40).all()  # a listener's rows are all in or all out


@pytest.mark.parametrize("cap", [500, 1_000_000])
def test_the_winner_grows_its_trees_on_every_training_row(monkeypatch, cap: int) -> None:
    monkeypatch.setattr(train, "SEARCH_MAX_ROWS", cap)
    rows = _rows()
    booster, search = train._fit(rows, fit_vocabulary(rows), PARAMS)
    assert len(search["results"]) == len(train.SEARCH_GRID)
    if cap < rows.height:
        assert search["search_rows"] < rows.height
        full = search["full_fit"]
        assert full["params"] == search["chosen"]
        assert booster.current_iteration() == full["rounds"]
    else:  # every row searched: the winner's own fit gives the trees, no extra fit
        assert search["search_rows"] == rows.height
        assert search["full_fit"] is None
        best = max(search["results"], key=lambda result: result["score"])
        assert booster.current_iteration() == best["rounds"]


def _stop_rows(users: int, per_user: int, seed: int = 11) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=users * per_user)
    labels = (signal + rng.normal(size=signal.size) > 0).astype(np.int32)
    rows = pl.DataFrame(
        {
            "user_id": np.repeat([f"u{i:03d}" for i in range(users)], per_user),
            train.LABEL: labels,
        }
    )
    return rows, signal


def test_trees_far_ahead_of_chance_get_all_the_weight() -> None:
    rows, signal = _stop_rows(users=200, per_user=30)
    noise = np.random.default_rng(2).normal(size=signal.size)
    weight, blends = train._blend_weight(rows, signal, noise)  # trees: signal; linear: noise
    assert weight == 1.0
    assert [blend["blend_weight"] for blend in blends] == list(train.BLEND_WEIGHTS)
    assert all(blend["se"] > 0 for blend in blends if blend["blend_weight"] != 1.0)


def test_a_lead_within_chance_leans_on_the_logistic_regression() -> None:
    rows, signal = _stop_rows(users=6, per_user=40)
    rng = np.random.default_rng(4)
    trees = signal + rng.normal(scale=0.9, size=signal.size)
    linear = signal + rng.normal(scale=1.0, size=signal.size)  # nearly as good
    weight, blends = train._blend_weight(rows, trees, linear)
    best = max(blends, key=lambda blend: blend["score"])
    assert weight == min(train.BLEND_WEIGHTS)
    chosen = next(blend for blend in blends if blend["blend_weight"] == weight)
    assert chosen["score"] >= best["score"] - chosen["se"]


def test_resamples_that_draw_nothing_to_compare_do_not_break_the_choice() -> None:
    """Two listeners, one with a single class: a resample of only that one has no pair."""
    rows = pl.DataFrame(
        {"user_id": ["a"] * 6 + ["b"] * 3, train.LABEL: [1, 0, 1, 0, 1, 0, 1, 1, 1]}
    )
    trees, linear = np.linspace(0, 1, rows.height), np.linspace(1, 0, rows.height)
    weight, blends = train._blend_weight(rows, trees, linear)
    assert weight in train.BLEND_WEIGHTS
    assert all(np.isfinite(blend["se"]) for blend in blends)
