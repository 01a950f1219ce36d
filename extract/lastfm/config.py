"""The Last.fm source's settings, taken from Encore's settings (config/).

Everything has a default except the key: with no `LASTFM_API_KEY` the source is disabled
(the pipeline runs on synthetic data alone), which callers check with `enabled`. The key
and secret are kept out of `repr()` so a logged or printed config never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from config import Settings, get_settings, parse_users
from extract.lastfm.client import RetryPolicy

__all__ = ["MAX_PAGE_SIZE", "SOURCE", "LastfmConfig", "parse_users"]

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
    # Days before the watermark each incremental run reads again: Last.fm accepts scrobbles
    # up to 14 days late, and re-read scrobbles earlier batches hold are not landed twice.
    lookback_days: int = 14
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
        if self.lookback_days < 0:
            raise ValueError(f"lookback_days must be 0 or more, not {self.lookback_days}")

    @property
    def enabled(self) -> bool:
        return bool(self.api_key)

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> LastfmConfig:
        """The config from the `LASTFM_*` settings (config.get_settings() by default)."""
        settings = settings or get_settings()
        secret = settings.lastfm_api_secret
        return cls(
            api_key=settings.lastfm_api_key.get_secret_value() if settings.lastfm_api_key else "",
            api_secret=secret.get_secret_value() if secret else "",
            users=settings.lastfm_user_list,
            api_url=settings.lastfm_api_url,
            initial_days=settings.lastfm_initial_days,
            lookback_days=settings.lastfm_lookback_days,
            page_size=settings.lastfm_page_size,
            min_interval_seconds=settings.lastfm_min_interval_seconds,
            retry=RetryPolicy(
                max_attempts=settings.lastfm_max_attempts,
                backoff_seconds=settings.lastfm_backoff_seconds,
                max_backoff_seconds=settings.lastfm_max_backoff_seconds,
            ),
            track_info_max=settings.lastfm_track_info_max,
        )
