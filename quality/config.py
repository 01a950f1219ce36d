"""Thresholds of the checks, with their defaults and environment overrides.

They live in one small dataclass so a run's thresholds are explicit (the CLI and the DAG
can override them) and docs/data_quality.md can point at a single place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from config import get_settings

# Last.fm (Audioscrobbler) started in 2002: no real play, scrobble or account predates it.
TIMESTAMP_FLOOR = dt.datetime(2002, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Thresholds:
    """What "within bounds" means for one checkpoint run.

    - `clock_skew`: how far past the load time (or the end of the logical date, whichever
      is later) a timestamp may lie before it counts as "in the future": clocks of phones
      and APIs drift a little, a play a day ahead is a bug.
    - `min_row_ratio` / `max_row_ratio`: an asset's row count must stay within these
      multiples of the count the previous successful run of the same checkpoint observed
      (the first run has no baseline, only "at least one row"). `row_bounds=False` turns the
      comparison off, e.g. once after a deliberate change of the synthetic world's size;
      that run's counts become the next baseline.
    - `min_known_track_share`: share of plays whose `track_key` is in `dim_tracks`
      (critical; dbt's relationships test makes it 100 %, so anything less is a bug).
    - `min_metadata_share`: share of plays whose track has a genre / audio features
      (warning only: real exports match the Kaggle sample sparsely).
    """

    timestamp_floor: dt.datetime = TIMESTAMP_FLOOR
    clock_skew: dt.timedelta = dt.timedelta(minutes=10)
    row_bounds: bool = True
    min_row_ratio: float = 0.5
    max_row_ratio: float = 2.0
    min_known_track_share: float = 0.99
    min_metadata_share: float = 0.5

    @classmethod
    def from_env(cls, **overrides: Any) -> Thresholds:
        """The `ENCORE_QUALITY_*` settings (config/), then explicit overrides."""
        settings = get_settings()
        values = cls(
            clock_skew=dt.timedelta(minutes=settings.encore_quality_clock_skew_minutes),
            row_bounds=settings.encore_quality_row_bounds,
            min_row_ratio=settings.encore_quality_min_row_ratio,
            max_row_ratio=settings.encore_quality_max_row_ratio,
            min_known_track_share=settings.encore_quality_min_known_track_share,
            min_metadata_share=settings.encore_quality_min_metadata_share,
        )
        return replace(values, **overrides)
