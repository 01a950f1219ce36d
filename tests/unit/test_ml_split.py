"""The per-user time split (ml.split): validation window, label-leakage gap, per-user cut-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ml.split import split_by_user_time, split_grouped_by_user

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _rows(user: str, days: list[int]) -> list[dict]:
    return [{"user_id": user, "first_played_at": T0 + timedelta(days=d), "day": d} for d in days]


def test_each_user_is_cut_on_their_own_timeline() -> None:
    # u1's history ends at day 200, u2's a year later: both must validate.
    frame = pl.DataFrame(
        _rows("u1", [0, 100, 139, 140, 141, 160, 171, 200]) + _rows("u2", [400, 500, 504, 505, 600])
    )
    split = split_by_user_time(frame, validation_days=30)
    by_user = {
        (part, user): sorted(group["day"].to_list())
        for part, df in (("train", split.train), ("valid", split.valid))
        for (user,), group in df.group_by("user_id")
    }
    # u1: cut-off day 170; valid > 170; train needs day + 30 <= 170.
    assert by_user["valid", "u1"] == [171, 200]
    assert by_user["train", "u1"] == [0, 100, 139, 140]
    # u2: cut-off day 570; 541..570 is the leakage gap (none here), 600 validates.
    assert by_user["valid", "u2"] == [600]
    assert by_user["train", "u2"] == [400, 500, 504, 505]


def test_rows_whose_label_window_crosses_the_cutoff_are_dropped() -> None:
    frame = pl.DataFrame(_rows("u", [0, 50, 55, 79, 80, 81, 100]))
    split = split_by_user_time(frame, validation_days=20)  # cut-off day 80
    assert split.train["day"].to_list() == [0, 50]
    assert split.valid["day"].to_list() == [81, 100]
    assert set(split.train.columns) == set(frame.columns)


def test_validation_days_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_by_user_time(pl.DataFrame(_rows("u", [0])), validation_days=0)


@pytest.mark.parametrize("batch_rows", [1, 3, 7, 100])
def test_a_stream_grouped_by_user_splits_as_the_whole_frame(batch_rows: int) -> None:
    # frames cut anywhere, mid-user included (the reader's batches know nothing of users)
    frame = pl.DataFrame(
        _rows("a", [0, 10, 50, 79, 81, 100])
        + _rows("b", [5])
        + _rows("c", [300, 400, 420, 431, 460, 470, 471])
        + _rows("d", [0, 40, 90])
    )
    frames = (frame.slice(offset, batch_rows) for offset in range(0, frame.height, batch_rows))
    streamed = split_grouped_by_user(frames, validation_days=20, schema=frame.schema)
    whole = split_by_user_time(frame, validation_days=20)
    assert_frame_equal(streamed.train, whole.train)
    assert_frame_equal(streamed.valid, whole.valid)
    assert streamed.train.height and streamed.valid.height


def test_an_empty_stream_gives_empty_frames_of_the_schema() -> None:
    schema = pl.DataFrame(_rows("u", [0])).schema
    split = split_grouped_by_user(iter(()), validation_days=30, schema=schema)
    assert split.train.height == split.valid.height == 0
    assert split.train.schema == split.valid.schema == schema
