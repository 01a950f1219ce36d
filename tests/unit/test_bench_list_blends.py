"""`bench.list_blends`: a rule's calibration never reads the labels it is graded on."""

from __future__ import annotations

import numpy as np
import polars as pl

from bench.list_blends import _calibrated
from ml import list_model

RULE = "recency_weighted"


def outcomes(seed: int = 5) -> pl.DataFrame:
    """Candidates of 40 listeners at cut-offs 1 and 2, replayed more often when recent."""
    rng = np.random.default_rng(seed)
    n = 40 * 10 * 2
    recent = rng.exponential(size=n)
    return pl.DataFrame(
        {
            "user_id": [f"u{(i // 10) % 40}" for i in range(n)],
            "track_key": [f"t{i % 10}" for i in range(n)],
            list_model.CUTOFF: [1 + i // 400 for i in range(n)],
            "user_track_plays_decayed_30d": recent,
            "user_track_plays_decayed_90d": recent / 2,
            "user_track_plays_30d": np.round(recent * 3),
            "track_prior_plays": rng.integers(0, 50, size=n).astype(float),
            list_model.LABEL: (recent + rng.normal(scale=0.5, size=n) > 1).astype(np.int32),
        }
    )


def test_the_oldest_cutoff_has_no_older_calibration() -> None:
    frame = outcomes()
    graded = frame.filter(pl.col(list_model.CUTOFF) == 2)
    assert _calibrated(frame, graded, RULE, "older") is None
    assert (
        _calibrated(frame, frame.filter(pl.col(list_model.CUTOFF) == 1), RULE, "older") is not None
    )


def test_folds_never_read_the_graded_listeners_labels() -> None:
    frame = outcomes()
    graded = frame.filter(pl.col(list_model.CUTOFF) == 1)
    before = _calibrated(frame, graded, RULE, "folds")
    fold = list_model.folds_of(graded, 5)
    mine = pl.Series(fold == 0)
    # flip the labels of fold 0's graded rows: fold 0's probabilities stay, others move
    flipped = graded.with_columns(
        pl.when(mine)
        .then(1 - pl.col(list_model.LABEL))
        .otherwise(pl.col(list_model.LABEL))
        .alias(list_model.LABEL)
    )
    frame_flipped = pl.concat([flipped, frame.filter(pl.col(list_model.CUTOFF) == 2)])
    after = _calibrated(frame_flipped, flipped, RULE, "folds")
    assert before is not None and after is not None
    assert np.array_equal(before[fold == 0], after[fold == 0])
    assert not np.array_equal(before[fold != 0], after[fold != 0])
