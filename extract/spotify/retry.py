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
from typing import NoReturn, TypeVar

import requests
import tenacity
from spotipy.exceptions import SpotifyException

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class SpotifyUnavailable(RuntimeError):
    """Spotify kept refusing (rate limit or server errors) within the retry bounds."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many calls, how long a wait at most, the first backoff, and how to sleep."""

    max_attempts: int = 5
    max_wait_s: float = 60.0
    backoff_s: float = 1.0  # first wait after a 5xx or a 429 without Retry-After; doubles
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), capped."""
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


def _retryable(error: BaseException) -> bool:
    """A 429 or 5xx from Spotify, or a connection failure or timeout."""
    if isinstance(error, SpotifyException):
        return error.http_status in RETRY_STATUSES
    return isinstance(error, requests.ConnectionError | requests.Timeout)


def _asked_wait(error: BaseException) -> float | None:
    """The Retry-After of a 429, None for any other error."""
    if isinstance(error, SpotifyException) and error.http_status == 429:
        return retry_after_seconds(error.headers)
    return None


def _status(error: BaseException) -> str:
    """The HTTP status of a Spotify error, else the exception's class name."""
    return str(error.http_status) if isinstance(error, SpotifyException) else type(error).__name__


def _failure(state: tenacity.RetryCallState) -> BaseException:
    """The exception the attempt just failed with."""
    error = state.outcome.exception() if state.outcome else None
    assert error is not None  # tenacity asks for waits, logs and give-ups only after failures
    return error


def call_with_retry(call: Callable[[], T], what: str, policy: RetryPolicy) -> T:
    """`call()`, retried on 429/5xx and connection failures within `policy`'s bounds.

    `what` names the request in logs and errors (ids and queries only, never credentials).
    Other errors (400, 401, 403, 404) are the caller's to interpret and pass through at once.
    """

    def attempt() -> T:
        try:
            return call()
        except SpotifyException as exc:
            asked = _asked_wait(exc)
            if asked is not None and asked > policy.max_wait_s:
                raise SpotifyUnavailable(
                    f"{what}: Spotify answered 429 and asked to wait {asked:.0f} s, longer "
                    f"than the {policy.max_wait_s:.0f} s this job waits; retry the run later"
                ) from exc
            raise

    def wait(state: tenacity.RetryCallState) -> float:
        asked = _asked_wait(_failure(state))
        return asked if asked is not None else policy.backoff(state.attempt_number)

    def log_retry(state: tenacity.RetryCallState) -> None:
        log.warning(
            "spotify: %s answered %s (attempt %d/%d); retrying in %.1f s",
            what,
            _status(_failure(state)),
            state.attempt_number,
            policy.max_attempts,
            state.upcoming_sleep,
        )

    def give_up(state: tenacity.RetryCallState) -> NoReturn:
        failure = _failure(state)
        raise SpotifyUnavailable(
            f"{what}: still failing ({_status(failure)}) after {policy.max_attempts} attempts"
        ) from failure

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=wait,
        retry=tenacity.retry_if_exception(_retryable),
        before_sleep=log_retry,
        retry_error_callback=give_up,
        sleep=policy.sleep,
    )(attempt)
