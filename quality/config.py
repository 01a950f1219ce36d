"""Thresholds of the checks, with their defaults and environment overrides.

They live in one small dataclass so a run's thresholds are explicit (the CLI and the DAG
can override them) and docs/data_quality.md can point at a single place.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, replace

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
    def from_env(cls, **overrides: object) -> Thresholds:
        """Defaults, then `ENCORE_QUALITY_*` variables, then explicit overrides."""
        values: dict[str, object] = {}
        env = os.environ
        if "ENCORE_QUALITY_CLOCK_SKEW_MINUTES" in env:
            values["clock_skew"] = dt.timedelta(
                minutes=float(env["ENCORE_QUALITY_CLOCK_SKEW_MINUTES"]))
        if "ENCORE_QUALITY_ROW_BOUNDS" in env:
            values["row_bounds"] = env["ENCORE_QUALITY_ROW_BOUNDS"].strip().lower() not in {
                "0", "false", "off", "no"}
        for name in ("min_row_ratio", "max_row_ratio", "min_known_track_share",
                     "min_metadata_share"):
            variable = f"ENCORE_QUALITY_{name.upper()}"
            if variable in env:
                values[name] = float(env[variable])
        return replace(cls(**values), **overrides)  # type: ignore[arg-type]
