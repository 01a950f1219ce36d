"""Calls to the Last.fm web service: pylast's request code, plus pacing and bounded retries.

Each call goes through `pylast._Request(...).execute()`, the class every pylast method uses
to sign, POST, turn HTTP 5xx and `<lfm status="failed">` answers into `WSError`, and parse the
XML. We use it directly rather than pylast's high-level methods because those hide what we
need: `User.get_recent_tracks` sends no page size when asked for everything (the API then
pages by 50), drops MBIDs, fails on an item without a date, and retries 3 times with a fixed
1 s sleep. Pacing and retries live here instead, with injectable clock and sleep so tests
run in milliseconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from xml.dom import minidom

import pylast
import tenacity

log = logging.getLogger(__name__)

# Last.fm error codes worth another try: operation failed, service offline, temporarily
# unavailable, rate limit exceeded. HTTP 5xx answers arrive as WSError with the HTTP code.
RETRYABLE_CODES = frozenset({"8", "11", "16", "29"})
RATE_LIMITED = "29"
LOGIN_REQUIRED = "17"  # the user hides their listening history
INVALID_PARAMETERS = "6"  # also "User not found" / "Track not found"


class LastfmApiError(RuntimeError):
    """A call failed for good: a non-retryable error, or retries ran out.

    `code` is Last.fm's error code or the HTTP status as text, None for network failures.
    """

    def __init__(self, method: str, code: str | None, details: str, attempts: int) -> None:
        self.method = method
        self.code = code
        self.details = details
        self.attempts = attempts
        what = f"error {code}" if code else "network error"
        super().__init__(f"Last.fm {method} failed after {attempts} attempt(s): {what}: {details}")

    @property
    def transient(self) -> bool:
        """The service was down or busy (retries ran out), as opposed to refusing the call."""
        return self.code is None or _is_retryable_code(self.code)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: waits backoff, 2x, 4x ... capped, `max_attempts` calls."""

    max_attempts: int = 5
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.max_backoff_seconds)


class RateLimiter:
    """Keeps successive calls at least `min_interval` seconds apart (per process)."""

    def __init__(
        self,
        min_interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            remaining = self._last + self.min_interval - self._clock()
            if remaining > 0:
                self._sleep(remaining)
        self._last = self._clock()


def _error_code(error: BaseException) -> str | None:
    if isinstance(error, pylast.WSError):
        return str(error.status)
    return None


def _is_retryable_code(code: str) -> bool:
    return code in RETRYABLE_CODES or (code.isdigit() and 500 <= int(code) <= 599)


def is_retryable(error: BaseException) -> bool:
    """Transient failures: listed Last.fm codes, HTTP 5xx, network trouble, garbled bodies."""
    if isinstance(error, pylast.WSError):
        return _is_retryable_code(str(error.status))
    return isinstance(error, pylast.NetworkError | pylast.MalformedResponseError)


class LastfmClient:
    """Executes Last.fm methods on a pylast network, paced and retried."""

    def __init__(
        self,
        network: pylast.LastFMNetwork,
        *,
        min_interval: float = 0.2,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.network = network
        self.retry = retry or RetryPolicy()
        self.limiter = RateLimiter(min_interval, clock=clock, sleep=sleep)
        self._sleep = sleep
        self.calls = 0

    def call(self, method: str, params: Mapping[str, str | int]) -> minidom.Document:
        """The parsed `<lfm status="ok">` document of `method`, or LastfmApiError."""
        first_call = self.calls
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry.max_attempts),
            wait=lambda state: self.retry.delay(state.attempt_number),
            retry=tenacity.retry_if_exception(is_retryable),
            before_sleep=lambda state: _log_retry(method, self.retry.max_attempts, state),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._execute, method, params)
        except pylast.PyLastError as error:
            raise LastfmApiError(
                method, _error_code(error), str(error), self.calls - first_call
            ) from error

    def _execute(self, method: str, params: Mapping[str, str | int]) -> minidom.Document:
        """One paced request, counted in `calls`."""
        self.limiter.wait()
        self.calls += 1
        return pylast._Request(self.network, method, dict(params)).execute(cacheable=False)


def _log_retry(method: str, max_attempts: int, state: tenacity.RetryCallState) -> None:
    """Warns that attempt `state.attempt_number` failed and says when the next one comes."""
    error = state.outcome.exception() if state.outcome else None
    code = _error_code(error) if error is not None else None
    log.warning(
        "Last.fm %s: %s (%s); retry %d/%d in %.1f s",
        method,
        f"error {code}" if code else "network error",
        error,
        state.attempt_number,
        max_attempts - 1,
        state.upcoming_sleep,
    )
