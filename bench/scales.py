"""Scales: a target number of plays (`100k`, `1m`, `5m`), turned into a synthetic world.

The synthetic listeners average about 4.25 plays per user and day over the default window
(measured at the demo's size: 2,000 users, 10,000 tracks, 120 days give 1.02M plays), so a
scale fixes the window at 120 days (enough history for the model's time split) and sizes
the population to hit the target; the catalog grows with it (5 tracks per user, at least
1,000). The generated count is close to the target, not equal: the table reports the rows
actually generated.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from extract.synthetic import DEFAULT_END_DATE, SyntheticConfig

DAYS = 120
PLAYS_PER_USER_DAY = 4.25
TRACKS_PER_USER = 5
MIN_TRACKS = 1_000
MIN_USERS = 30
SEED = 42

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000}
_PATTERN = re.compile(r"^(\d+(?:\.\d+)?)([km]?)$")


@dataclass(frozen=True)
class Scale:
    """One benchmark size: its label (also the database suffix) and its world."""

    label: str
    target_plays: int
    users: int
    tracks: int
    days: int = DAYS
    seed: int = SEED
    end_date: dt.date = DEFAULT_END_DATE

    @property
    def config(self) -> SyntheticConfig:
        return SyntheticConfig(
            seed=self.seed,
            n_users=self.users,
            n_tracks=self.tracks,
            days=self.days,
            end_date=self.end_date,
        )

    @property
    def database(self) -> str:
        return f"encore_bench_{self.label}"


def parse_scale(text: str) -> Scale:
    """`20k`, `1m`, `2.5m` or a plain number of plays."""
    match = _PATTERN.match(text.strip().lower())
    if not match:
        raise ValueError(f"not a scale: {text!r} (use e.g. 100k, 1m, 5m)")
    plays = int(float(match.group(1)) * _SUFFIX[match.group(2)])
    if plays < 10_000:
        raise ValueError(f"scale {text!r} is too small: the model needs at least 10k plays")
    users = max(MIN_USERS, round(plays / (PLAYS_PER_USER_DAY * DAYS)))
    label = match.group(1).replace(".", "_") + match.group(2)
    return Scale(
        label=label,
        target_plays=plays,
        users=users,
        tracks=max(MIN_TRACKS, users * TRACKS_PER_USER),
    )


def parse_scales(text: str) -> list[Scale]:
    """A comma-separated list of scales, smallest first, without duplicates."""
    scales = {scale.label: scale for scale in map(parse_scale, text.split(",")) if scale}
    return sorted(scales.values(), key=lambda scale: scale.target_plays)
