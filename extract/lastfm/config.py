"""The Last.fm source's settings, read from the environment in one place.

Everything has a default except the key: with no `LASTFM_API_KEY` the source is disabled
(the pipeline runs on synthetic data alone), which callers check with `enabled`. The key
and secret are kept out of `repr()` so a logged or printed config never shows them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from extract.lastfm.client import RetryPolicy

SOURCE = "lastfm"  # the `_source` of every batch this package loads

# Last.fm's own ceiling for user.getRecentTracks; pylast sends no `limit` at all when given
# None (the API then pages by 50), so the page size is always explicit here.
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class LastfmConfig:
    api_key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)
    users: tuple[str, ...] = ()
    # None: the real service (https://ws.audioscrobbler.com/2.0/); else e.g. a local replay.
    api_url: str | None = None
    # How far back the first run of a user reaches; None fetches the whole history.
    initial_days: int | None = 90
    page_size: int = MAX_PAGE_SIZE
    # 0.2 s between calls = at most 5 calls per second, Last.fm's published limit.
    min_interval_seconds: float = 0.2
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # track.getInfo calls per run (one per new track); 0 turns the metadata step off.
    track_info_max: int = 200

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}, not {self.page_size}")
        if self.initial_days is not None and self.initial_days < 1:
            raise ValueError("initial_days must be positive, or None for the whole history")

    @property
    def enabled(self) -> bool:
        return bool(self.api_key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LastfmConfig:
        env = os.environ if environ is None else environ
        defaults = cls()
        retry = RetryPolicy(
            max_attempts=int(env.get("LASTFM_MAX_ATTEMPTS", defaults.retry.max_attempts)),
            backoff_seconds=float(env.get("LASTFM_BACKOFF_SECONDS",
                                          defaults.retry.backoff_seconds)),
            max_backoff_seconds=float(env.get("LASTFM_MAX_BACKOFF_SECONDS",
                                              defaults.retry.max_backoff_seconds)),
        )
        return cls(
            api_key=env.get("LASTFM_API_KEY", "").strip(),
            api_secret=env.get("LASTFM_API_SECRET", "").strip(),
            users=parse_users(env.get("LASTFM_USERS", "")),
            api_url=env.get("LASTFM_API_URL", "").strip() or None,
            initial_days=_initial_days(env.get("LASTFM_INITIAL_DAYS", "90")),
            page_size=int(env.get("LASTFM_PAGE_SIZE", MAX_PAGE_SIZE)),
            min_interval_seconds=float(env.get("LASTFM_MIN_INTERVAL_SECONDS",
                                               defaults.min_interval_seconds)),
            retry=retry,
            track_info_max=int(env.get("LASTFM_TRACK_INFO_MAX", defaults.track_info_max)),
        )


def parse_users(text: str) -> tuple[str, ...]:
    """`a, b,,a` -> ("a", "b"): blanks dropped, repeats (case-insensitive) kept once."""
    seen: dict[str, str] = {}
    for name in (part.strip() for part in text.split(",")):
        if name and name.lower() not in seen:
            seen[name.lower()] = name
    return tuple(seen.values())


def _initial_days(text: str) -> int | None:
    """`90` -> 90; `all`, `0` or empty -> None (the whole history)."""
    text = text.strip().lower()
    if text in ("", "all", "0"):
        return None
    return int(text)
