"""The per-user time split of labelled first plays (DESIGN.md, evaluation protocol).

A single global cut-off would put only the most recent users in validation when histories
span different years; cutting each user's own timeline keeps every user on both sides.

Within a user, the first plays of the last `validation_days` days (counted back from that
user's last labelled first play) validate. Training keeps only first plays whose 30-day label
window had closed by that user's cut-off: a label that is still "in the future" at the
cut-off would leak validation-period behaviour into training. Rows in between are dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import polars as pl

LABEL_WINDOW = timedelta(days=30)
"""dbt var `repeat_window_days`: how long after a first play its label keeps changing."""


@dataclass(frozen=True)
class Split:
    train: pl.DataFrame
    valid: pl.DataFrame


def split_by_user_time(
    frame: pl.DataFrame,
    *,
    validation_days: int,
    user_col: str = "user_id",
    time_col: str = "first_played_at",
    label_window: timedelta = LABEL_WINDOW,
) -> Split:
    """Split labelled rows into train and validation per user; see the module docstring."""
    if validation_days <= 0:
        raise ValueError("validation_days must be positive")
    cutoff = pl.col(time_col).max().over(user_col) - timedelta(days=validation_days)
    tagged = frame.with_columns(_cutoff=cutoff)
    valid = tagged.filter(pl.col(time_col) > pl.col("_cutoff")).drop("_cutoff")
    train = tagged.filter(pl.col(time_col) + label_window <= pl.col("_cutoff")).drop("_cutoff")
    return Split(train=train, valid=valid)


def split_grouped_by_user(
    frames: Iterable[pl.DataFrame],
    *,
    validation_days: int,
    schema: pl.Schema | dict[str, pl.DataType],
    user_col: str = "user_id",
    time_col: str = "first_played_at",
    label_window: timedelta = LABEL_WINDOW,
) -> Split:
    """`split_by_user_time` of the concatenated `frames` (empty ones of `schema` when there
    are none), whose rows arrive grouped by user (each user's rows contiguous, e.g. ordered
    by user): each user is split once all their rows have arrived, so the rows it drops and
    the input as a whole are never held, only the kept rows and one frame."""
    split = functools.partial(
        split_by_user_time,
        validation_days=validation_days,
        user_col=user_col,
        time_col=time_col,
        label_window=label_window,
    )
    parts: list[Split] = []
    carry = pl.DataFrame(schema=schema)
    for frame in frames:
        frame = pl.concat([carry, frame]) if carry.height else frame
        if frame.height == 0:
            continue
        # the last user may go on in the next frame: keep their rows back
        tail = int((frame.get_column(user_col) == frame.get_column(user_col)[-1]).sum())
        carry = frame.tail(tail)
        if frame.height > tail:
            parts.append(split(frame.head(frame.height - tail)))
    parts.append(split(carry))
    return Split(
        train=pl.concat([part.train for part in parts]),
        valid=pl.concat([part.valid for part in parts]),
    )
