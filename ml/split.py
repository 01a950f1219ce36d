"""The per-user time split of labelled first plays (DESIGN.md, evaluation protocol).

A single global cut-off would put only the most recent users in validation when histories
span different years; cutting each user's own timeline keeps every user on both sides.

Within a user, the first plays of the last `validation_days` days (counted back from that
user's last labelled first play) validate. Training keeps only first plays whose 30-day label
window had closed by that user's cut-off: a label that is still "in the future" at the
cut-off would leak validation-period behaviour into training. Rows in between are dropped.
"""

from __future__ import annotations

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
