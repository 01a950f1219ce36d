"""Fold one recently-played poll into the batch of its logical date.

The API keeps only the listener's last 50 plays and cannot page further back, so a poll
can never be redone later. Hence:
- plays newer than the watermark (the newest play of earlier dates) are new; older ones
  were loaded before, and plays already loaded under a later date are left there;
- the rows the date's batch already holds are kept: a rerun adds what it can still see
  and forgets nothing, and with the same answers it produces the same rows (idempotent);
- 50 plays all newer than the watermark mean the poll may have missed some: a warning
  says so and the fix is to poll more often (the full history comes from the data export).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import polars as pl

from extract.spotify.api import RECENTLY_PLAYED_LIMIT
from extract.spotify.backlog import PollState

log = logging.getLogger(__name__)

# A listener ends one play at a time: (user, end time) identifies a play.
PLAY_KEY = ["user_name", "ended_at"]


@dataclass(frozen=True)
class PollOutcome:
    rows: pl.DataFrame  # the batch's rows after this poll
    fetched: int
    new: int
    may_have_gap: bool


def merge_poll(fetched: pl.DataFrame, state: PollState) -> PollOutcome:
    """The date's batch after this poll: its earlier rows plus the plays seen first now."""
    fresh = fetched
    if state.watermark is not None:
        fresh = fresh.filter(pl.col("ended_at") > state.watermark)
    if state.later_plays:
        fresh = fresh.filter(~pl.col("ended_at").is_in(list(state.later_plays)))
    merged = (
        pl.concat([state.batch_rows, fresh], how="vertical")
        .unique(subset=PLAY_KEY, keep="first", maintain_order=True)
        .sort("ended_at")
    )
    added = merged.height - state.batch_rows.height
    oldest = fetched["ended_at"].min() if fetched.height else None
    may_have_gap = False
    if (
        state.watermark is not None
        and fetched.height >= RECENTLY_PLAYED_LIMIT
        and isinstance(oldest, dt.datetime)  # ended_at is a Datetime column (None if empty)
        and oldest > state.watermark
    ):
        may_have_gap = True
        log.warning(
            "spotify: recently-played returned %d plays, all newer than the last poll "
            "(%s): plays between then and %s may be missing; poll more often",
            fetched.height,
            state.watermark.isoformat(),
            oldest.isoformat(),
        )
    return PollOutcome(rows=merged, fetched=fetched.height, new=added, may_have_gap=may_have_gap)
