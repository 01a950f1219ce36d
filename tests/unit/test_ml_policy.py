"""The retrain policy's arithmetic (PSI, profiles) and its decisions, and reason sentences."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ml import policy
from ml.artifacts import MODEL_FILE, SIDECAR_FILE
from ml.policy import Decision, feature_psi, profile, psi
from ml.score import FALLBACK_REASON, explain, render


def test_psi_of_identical_distributions_is_zero() -> None:
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)


def test_psi_matches_a_hand_computed_value() -> None:
    expected, actual = [0.5, 0.5], [0.9, 0.1]
    by_hand = (0.9 - 0.5) * math.log(0.9 / 0.5) + (0.1 - 0.5) * math.log(0.1 / 0.5)
    assert psi(expected, actual) == pytest.approx(by_hand)  # 0.879
    assert psi(expected, actual) > 0.2 > psi([0.5, 0.5], [0.55, 0.45])


def test_psi_floors_empty_bins_instead_of_dividing_by_zero() -> None:
    value = psi([100, 0], [50, 50])
    assert math.isfinite(value) and value > 1
    with pytest.raises(ValueError):
        psi([1, 2], [1, 2, 3])


def test_profile_bins_at_deciles_and_keeps_nulls_and_categories_apart() -> None:
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {
            "x": [*rng.normal(size=1000).tolist(), None, None],
            "genre": ["rock"] * 600 + ["pop"] * 400 + [None, None],
        },
        schema={"x": pl.Float64, "genre": pl.String},
    )
    ref = profile(frame, ["x", "genre"])
    assert ref["rows"] == 1002
    assert len(ref["features"]["x"]["edges"]) == 9
    assert ref["features"]["x"]["counts"] == [100] * 10 and ref["features"]["x"]["nulls"] == 2
    assert ref["features"]["genre"] == {
        "kind": "categorical",
        "counts": {"rock": 600, "pop": 400},
        "nulls": 2,
    }
    assert feature_psi(ref, frame) == {"x": 0.0, "genre": 0.0}


def test_feature_psi_sees_a_shift_and_unseen_categories() -> None:
    rng = np.random.default_rng(1)
    before = pl.DataFrame({"x": rng.normal(size=5000), "genre": ["rock", "pop"] * 2500})
    same = pl.DataFrame({"x": rng.normal(size=5000), "genre": ["rock", "pop"] * 2500})
    shifted = pl.DataFrame(
        {"x": rng.normal(loc=1.0, size=5000), "genre": ["rock", "pop", "k-pop", "k-pop"] * 1250}
    )
    ref = profile(before, ["x", "genre"])
    stable = feature_psi(ref, same)
    drifted = feature_psi(ref, shifted)
    assert max(stable.values()) < 0.02
    assert drifted["x"] > 0.5  # a one-sigma shift
    assert drifted["genre"] > 1  # half the rows in a genre the reference never saw


# ------------------------------------------------------------------------------ decisions


class _FakeConn:
    """Just enough of a connection for should_train's branches without drift."""

    def transaction(self):
        from contextlib import nullcontext

        return nullcontext()


@pytest.fixture
def no_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        policy,
        "record_decision",
        lambda conn, action, reason, **kw: Decision(kw["train"], reason, dict(kw["details"]), 1),
    )


NOW = datetime(2026, 6, 10, tzinfo=UTC)


def _latest(trained_days_ago: float | None):
    def latest_run(conn):
        if trained_days_ago is None:
            return None
        return {"model_version": "lgbm-x", "trained_at": NOW - timedelta(days=trained_days_ago)}

    return latest_run


@pytest.mark.parametrize(
    ("age", "force", "train", "reason"),
    [
        (None, False, True, "no succeeded model yet"),
        (8, False, True, "days old (max 7)"),
        (1, True, True, "forced"),
    ],
)
def test_decisions_without_drift(monkeypatch, no_recording, age, force, train, reason) -> None:
    monkeypatch.setattr(policy, "latest_run", _latest(age))
    decision = policy.should_train(_FakeConn(), now=NOW, force=force)  # type: ignore[arg-type]
    assert decision.train is train and reason in decision.reason


def test_a_fresh_model_whose_files_are_gone_is_retrained(
    monkeypatch, no_recording, tmp_path
) -> None:
    """Scoring loads the latest model from the artifacts folder: a model registered in the
    warehouse but without its files there (another machine, a lost volume) is retrained
    instead of failing every score shard."""
    monkeypatch.setattr(policy, "latest_run", _latest(1))
    monkeypatch.setattr(policy, "reference_profile", lambda conn, version: None)
    decision = policy.should_train(_FakeConn(), now=NOW, artifacts_dir=tmp_path)  # type: ignore[arg-type]
    assert decision.train and "lgbm-x has no files under" in decision.reason
    (tmp_path / "lgbm-x").mkdir()
    for name in (MODEL_FILE, SIDECAR_FILE):
        (tmp_path / "lgbm-x" / name).write_text("{}")
    kept = policy.should_train(_FakeConn(), now=NOW, artifacts_dir=tmp_path)  # type: ignore[arg-type]
    assert not kept.train and "no drift reference" in kept.reason


@pytest.mark.parametrize(("shift", "train"), [(0.0, False), (1.5, True)])
def test_a_fresh_model_trains_only_when_features_drifted(
    monkeypatch, no_recording, shift, train
) -> None:
    rng = np.random.default_rng(2)
    ref = profile(
        pl.DataFrame({"track_plays_28d": rng.poisson(20, 4000).astype(float)}), ["track_plays_28d"]
    )
    tonight = pl.DataFrame({"track_plays_28d": rng.poisson(20 * (1 + shift), 4000).astype(float)})
    monkeypatch.setattr(policy, "latest_run", _latest(2))
    monkeypatch.setattr(policy, "reference_profile", lambda conn, version: (ref, NOW))
    monkeypatch.setattr(policy, "candidate_frame", lambda conn: tonight)
    decision = policy.should_train(_FakeConn(), now=NOW)  # type: ignore[arg-type]
    assert decision.train is train
    assert decision.details["max_psi_feature"] == "track_plays_28d"
    assert decision.reason.startswith("features drifted") is train
    assert decision.details["age_days"] == 2


def test_without_a_reference_profile_age_alone_decides(monkeypatch, no_recording) -> None:
    monkeypatch.setattr(policy, "latest_run", _latest(2))
    monkeypatch.setattr(policy, "reference_profile", lambda conn, version: None)
    decision = policy.should_train(_FakeConn(), now=NOW)  # type: ignore[arg-type]
    assert not decision.train and "no drift reference" in decision.reason


# ---------------------------------------------------------------------------- sentences


def test_sentences_use_the_feature_value_and_names() -> None:
    names = {"artist": "Boards of Canada", "genre": "electronic"}
    assert render("user_artist_prior_tracks", 12.0, names) == (
        "You've played 12 tracks by Boards of Canada"
    )
    assert render("user_artist_prior_tracks", 1.0, names) == (
        "You've played a track by Boards of Canada"
    )
    assert render("track_plays_7d", 340.0, names) == "Trending: 340 plays this week"
    assert render("user_genre_share", 0.4, names) == "Electronic is 40% of your listening"
    assert render("hour_of_day", 21.0, names) == "You often listen at this hour (21:00 UTC)"
    # Unsayable: no artist name, a NULL, a zero count, a feature that explains nothing.
    assert render("user_artist_prior_tracks", 3.0, {"artist": None}) is None
    assert render("user_genre_share", float("nan"), names) is None
    assert render("user_artist_prior_plays", 0.0, names) is None
    assert render("country", "SE", names) is None
    # A feature nobody wrote a template for yet still gets a sentence with its value.
    assert render("new_score", 0.42, names) == "Its new score (0.42) fits what you replay"
    assert render("colisten_score", 0.42, names) == "Often played alongside your favourites"
    assert render("user_track_plays_7d", 1.0, names) == "You played it this week"


def test_explain_prefers_track_features_and_lists_the_top_contributions() -> None:
    features = ["user_prior_plays", "user_artist_prior_tracks", "track_plays_7d", "genre"]
    row = {
        "user_prior_plays": 900.0,
        "user_artist_prior_tracks": 5.0,
        "track_plays_7d": 80.0,
        "genre": "jazz",
    }
    names = {"artist": "Nina Simone", "genre": "jazz"}
    reason, top = explain(features, np.array([0.9, 0.5, 0.3, -0.2]), row, names)
    # user_prior_plays is the same for all the user's candidates: not the reason for this one
    assert reason == "You've played 5 tracks by Nina Simone. Trending: 80 plays this week"
    assert [t["feature"] for t in top] == [
        "user_prior_plays",
        "user_artist_prior_tracks",
        "track_plays_7d",
    ]
    assert [t["said"] for t in top] == [False, True, True]
    # Only user-level contributions: the user-level sentence; none positive: the fallback.
    reason, _ = explain(features, np.array([0.9, -0.1, -0.3, -0.2]), row, names)
    assert reason == "Based on your 900 plays"
    reason, top = explain(features, np.array([-0.9, -0.1, -0.3, -0.2]), row, names)
    assert reason == FALLBACK_REASON and top == []
