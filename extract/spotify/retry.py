"""Bounded retries for Spotify calls: honour 429 Retry-After, back off on 5xx.

spotipy's own retries are disabled (see `extract.spotify.clients`), so every rate limit and
server error comes here. The bounds are what make this safe in a scheduled worker:
- at most `max_attempts` calls per request;
- a Retry-After longer than `max_wait_s` is not slept through: Spotify sends hours when an
  app has exceeded its quota, and failing the task (Airflow retries it later) beats holding a
  worker slot that long;
- `sleep` is injectable, so tests check the waits without waiting.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from spotipy.exceptions import SpotifyException

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class SpotifyUnavailable(RuntimeError):
    """Spotify kept refusing (rate limit or server errors) within the retry bounds."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    max_wait_s: float = 60.0
    backoff_s: float = 1.0  # first wait after a 5xx or a 429 without Retry-After; doubles
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_wait_s)


def retry_after_seconds(headers: object) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or garbled."""
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)


def call_with_retry(call: Callable[[], T], what: str, policy: RetryPolicy) -> T:
    """`call()`, retried on 429/5xx and connection failures within `policy`'s bounds.

    `what` names the request in logs and errors (ids and queries only, never credentials).
    Other errors (400, 401, 403, 404) are the caller's to interpret and pass through at once.
    """
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return call()
        except SpotifyException as exc:
            if exc.http_status not in RETRY_STATUSES:
                raise
            asked = retry_after_seconds(exc.headers) if exc.http_status == 429 else None
            if asked is not None and asked > policy.max_wait_s:
                raise SpotifyUnavailable(
                    f"{what}: Spotify answered 429 and asked to wait {asked:.0f} s, longer "
                    f"than the {policy.max_wait_s:.0f} s this job waits; retry the run later"
                ) from exc
            wait = asked if asked is not None else policy.backoff(attempt)
            failure: Exception = exc
            status = str(exc.http_status)
        except (requests.ConnectionError, requests.Timeout) as exc:
            wait, failure, status = policy.backoff(attempt), exc, type(exc).__name__
        if attempt == policy.max_attempts:
            raise SpotifyUnavailable(
                f"{what}: still failing ({status}) after {policy.max_attempts} attempts"
            ) from failure
        log.warning("spotify: %s answered %s (attempt %d/%d); retrying in %.1f s",
                    what, status, attempt, policy.max_attempts, wait)
        policy.sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises
