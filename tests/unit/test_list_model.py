"""The list model's pieces without a warehouse: source flags, folds, list weights, sampling,
a fit that learns an obvious signal, its refusal without enough rows or a hold-out,
cross-fitting that never sees the graded listener's labels, its shared early stopping, and
the saved model's round trip."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ml import list_model


def outcomes(
    n_users: int = 60, cutoffs: int = 4, per_list: int = 30, seed: int = 3
) -> pl.DataFrame:
    """Past cut-offs' candidates whose replay follows the recency-weighted plays (+ noise)."""
    rng = np.random.default_rng(seed)
    rows = n_users * cutoffs * per_list
    recent = rng.gamma(1.0, 2.0, rows)
    replayed = (recent + rng.normal(0, 1.0, rows) > 2.5).astype(float)
    columns: dict[str, object] = {
        "user_id": [f"u{i // (cutoffs * per_list):03d}" for i in range(rows)],
        list_model.CUTOFF: [1 + (i // per_list) % cutoffs for i in range(rows)],
        "track_key": [f"t{i % per_list:03d}" for i in range(rows)],
        **{name: rng.normal(size=rows) for name in list_model.CONTEXT_FEATURES},
        **{name: rng.uniform(0, 5, rows) for name in list_model.HISTORY_FEATURES},
        "user_track_plays_decayed_30d": recent,
        "user_track_prior_plays": np.ceil(recent) + 1,
        "track_prior_plays": rng.integers(0, 100, rows).astype(float),
        "candidate_sources": rng.choice(["listened", "co_listened,content", "popular"], rows),
        list_model.LABEL: replayed,
    }
    return list_model.with_source_flags(pl.DataFrame(columns))


def test_source_flags_follow_candidate_sources() -> None:
    frame = list_model.with_source_flags(
        pl.DataFrame({"candidate_sources": ["listened", "co_listened,content", None]})
    )
    assert frame["source_listened"].to_list() == [1.0, 0.0, 0.0]
    assert frame["source_co_listened"].to_list() == [0.0, 1.0, 0.0]
    assert frame["source_content"].to_list() == [0.0, 1.0, 0.0]
    assert frame["source_popular"].to_list() == [0.0, 0.0, 0.0]


def test_user_folds_are_stable_and_spread() -> None:
    folds = [list_model.user_fold(f"user-{i}", 2) for i in range(1000)]
    assert folds == [list_model.user_fold(f"user-{i}", 2) for i in range(1000)]
    assert 400 < sum(folds) < 600


def test_every_list_weighs_the_same() -> None:
    frame = pl.DataFrame({"user_id": ["a"] * 3 + ["b"], list_model.CUTOFF: [1, 1, 1, 1]})
    weights = list_model.list_weights(frame)
    assert weights[:3].sum() == pytest.approx(weights[3])
    assert weights.mean() == pytest.approx(1.0)


def test_sampling_keeps_the_same_listeners_at_every_cutoff(monkeypatch) -> None:
    monkeypatch.setattr(list_model, "MAX_LISTS_PER_CUTOFF", 10)
    frame = outcomes(n_users=40)
    sampled = list_model.sample_lists(frame)
    assert sampled["user_id"].n_unique() == 10
    per_cutoff = sampled.group_by(list_model.CUTOFF).agg(pl.col("user_id").unique().sort())
    assert len({tuple(users) for users in per_cutoff["user_id"].to_list()}) == 1
    assert list_model.sample_lists(frame).equals(sampled)


def test_fit_learns_the_signal_and_reports_its_hold_out() -> None:
    booster, metrics = list_model.fit(outcomes())
    assert metrics["holdout_auc"] > 0.75
    assert metrics["holdout_listeners"] == 60 and metrics["fit_rows"] > 1000
    assert metrics["params"]["objective"] == "binary" and metrics["rounds"] >= 1
    gains = dict(zip(list_model.ALL_FEATURES, booster.feature_importance("gain"), strict=True))
    assert max(gains, key=lambda name: gains[name]) == "user_track_plays_decayed_30d"


def test_no_list_model_without_enough_rows_or_a_hold_out() -> None:
    with pytest.raises(list_model.NoListModel, match="fewer than"):
        list_model.fit(outcomes(n_users=3))
    no_holdout = outcomes().with_columns(
        pl.when(pl.col(list_model.CUTOFF) == 1)
        .then(0.0)
        .otherwise(pl.col(list_model.LABEL))
        .alias(list_model.LABEL)
    )
    with pytest.raises(list_model.NoListModel, match="no real hold-out"):
        list_model.fit(no_holdout)


def test_cross_fitting_never_sees_the_graded_listeners_labels() -> None:
    frame = outcomes()
    params = list_model.base_params() | list_model.SEARCH_GRID[0]
    scores = list_model.cross_fitted_scores(frame, params, grade_cutoff=1)
    assert scores.height == frame.filter(pl.col(list_model.CUTOFF) == 1).height
    # Scramble one fold's labels at cut-off 1: that fold's own scores must not move.
    fold = list_model.folds_of(frame, 5)
    graded = pl.Series(fold == 0) & (frame[list_model.CUTOFF] == 1)
    scrambled = frame.with_columns(
        pl.when(graded)
        .then(1.0 - pl.col(list_model.LABEL))
        .otherwise(pl.col(list_model.LABEL))
        .alias(list_model.LABEL)
    )
    again = list_model.cross_fitted_scores(scrambled, params, grade_cutoff=1)
    own = frame.filter(graded).select("user_id", "track_key")
    before = own.join(scores, on=["user_id", "track_key"])["list_model"].to_numpy()
    after = own.join(again, on=["user_id", "track_key"])["list_model"].to_numpy()
    np.testing.assert_allclose(before, after)


def test_cross_fitted_for_follows_the_graded_rows() -> None:
    frame = outcomes()
    params = list_model.base_params() | list_model.SEARCH_GRID[0]
    graded = frame.filter(pl.col(list_model.CUTOFF) == 1)
    # reversed, plus a pair the cross-fit never scored
    stranger = graded.head(1).with_columns(pl.lit("nobody").alias("user_id"))
    rows = pl.concat([graded.reverse(), stranger])
    aligned = list_model.cross_fitted_for(rows, frame, params, grade_cutoff=1)
    scores = list_model.cross_fitted_scores(frame, params, grade_cutoff=1)
    expected = rows.select("user_id", "track_key").join(
        scores, on=["user_id", "track_key"], how="left", maintain_order="left"
    )["list_model"]
    assert aligned.shape == (rows.height,)
    np.testing.assert_allclose(aligned[:-1], expected.to_numpy()[:-1])
    assert aligned[-1] == 0.0


def test_shared_early_stopping_keeps_what_each_stop_set_alone_would() -> None:
    frame = outcomes()
    params = list_model.base_params() | list_model.SEARCH_GRID[0]
    fit_rows = frame.filter(pl.col(list_model.CUTOFF) > 1)
    fold = list_model.folds_of(frame, 3)
    stop_sets = [
        frame.filter(pl.Series(fold != k) & (pl.col(list_model.CUTOFF) == 1)) for k in range(3)
    ]
    alone = [list_model._early_stopped(fit_rows, rows, params)[1] for rows in stop_sets]
    assert list_model._early_stopping_rounds(fit_rows, stop_sets, params) == alone


def test_stopping_round_follows_lightgbms_early_stopping(monkeypatch) -> None:
    monkeypatch.setattr(list_model, "EARLY_STOPPING_ROUNDS", 2)
    assert list_model._stopping_round([3.0, 2.0, 2.5, 2.0]) == 2  # a tie does not improve
    assert list_model._stopping_round([3.0, 2.0, 1.0]) is None
    assert list_model._stopping_round([3.0, 2.0, 1.0], final=True) == 3


def test_the_saved_model_scores_the_same(tmp_path) -> None:
    frame = outcomes()
    booster, metrics = list_model.fit(frame, list_model.base_params() | list_model.SEARCH_GRID[0])
    list_model.save(
        tmp_path,
        booster,
        {"features": list(list_model.ALL_FEATURES), "used": True, "metrics": metrics},
    )
    loaded = list_model.load(tmp_path)
    assert loaded is not None
    np.testing.assert_allclose(loaded.predict(frame), booster.predict(list_model.matrix(frame)))
    contributions = loaded.contributions(frame.head(5))
    assert contributions.shape == (5, len(list_model.ALL_FEATURES) + 1)
    list_model.write_sidecar(tmp_path, {"features": ["something", "else"]})
    assert list_model.load(tmp_path) is None
    assert list_model.load(tmp_path / "missing") is None
