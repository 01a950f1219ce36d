"""Progress of long steps: a live bar on a terminal, a log line now and then elsewhere.

    with progress("COPY raw.synthetic_plays", total=frame.height) as bar:
        for chunk in chunks:
            ...
            bar.advance(chunk.height)

A person at a terminal wants to see a bar move. Airflow task logs, CI and pytest capture
stderr into files, where a redrawn bar turns into thousands of garbage lines. So the
display is chosen per run: a rich bar when stderr is a TTY; otherwise a log line on
`observability.progress` at most every `ENCORE_PROGRESS_SECONDS` (10 s), then one at the end
with the count, the time and the rate. `ENCORE_PROGRESS=bar|log|off` overrides the choice.

Steps nest (an import's files, each file's COPY): on a terminal they share one display, an
inner step's bar leaving when it ends; in logs an inner step that ended before its first
periodic line ends quietly (DEBUG), so a short COPY inside an import adds no noise.

Callers advance per chunk (a page, a request batch, a file, a COPY chunk), never per row:
`advance` costs one clock read, plus a bar refresh on a terminal.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from config import Settings, SettingsError, get_settings, tool_env
from observability.logs import PROGRESS_LOGGER

MODE_VAR = "ENCORE_PROGRESS"
SECONDS_VAR = "ENCORE_PROGRESS_SECONDS"
MODES = ("auto", "bar", "log", "off")
DEFAULT_EVERY_SECONDS = 10.0

log = logging.getLogger(PROGRESS_LOGGER)


def _count(value: float) -> str:
    return f"{value:,.0f}"


class Tracker:
    """How far a step is: `advance(n)` as chunks finish, `update(...)` when the total or the
    description becomes known. This base class only counts (`ENCORE_PROGRESS=off`)."""

    def __init__(self, description: str, total: int | None, unit: str) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.done = 0
        self.started = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n

    def update(
        self, *, done: int | None = None, total: int | None = None, description: str | None = None
    ) -> None:
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if description is not None:
            self.description = description

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Units per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> str:
        """`1,200/5,000 rows (24%), 410 rows/s`."""
        done = _count(self.done)
        if self.total:
            done += f"/{_count(self.total)} {self.unit} ({100 * self.done / self.total:.0f}%)"
        else:
            done += f" {self.unit}"
        return f"{done}, {_count(self.rate)} {self.unit}/s"

    def fields(self) -> dict[str, Any]:
        """The counts as structured log fields."""
        return {
            "step": self.description,
            "done": self.done,
            "total": self.total,
            "unit": self.unit,
            "elapsed_s": round(self.elapsed, 2),
            "rate": round(self.rate, 1),
        }

    def _finish(self, failed: bool, nested: bool) -> None:
        """Called once when the step's block ends."""


class LogTracker(Tracker):
    """Logs the counts at most every `every` seconds, and once at the end."""

    def __init__(self, description: str, total: int | None, unit: str, every: float) -> None:
        super().__init__(description, total, unit)
        self.every = every
        self._last = self.started
        self.lines = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.lines += 1
            log.info("%s: %s", self.description, self.summary(), extra=self.fields())

    def _finish(self, failed: bool, nested: bool) -> None:
        fields = {**self.fields(), "outcome": "failed" if failed else "done"}
        if failed:
            log.warning(
                "%s: stopped after %s in %.1f s",
                self.description,
                self.summary(),
                self.elapsed,
                extra=fields,
            )
            return
        level = logging.DEBUG if nested and not self.lines else logging.INFO
        of = f" of {_count(self.total)}" if self.total and self.total != self.done else ""
        log.log(
            level,
            "%s: done, %s%s %s in %.1f s (%s %s/s)",
            self.description,
            _count(self.done),
            of,
            self.unit,
            self.elapsed,
            _count(self.rate),
            self.unit,
            extra=fields,
        )


class BarTracker(Tracker):
    """One task of the shared rich display."""

    def __init__(self, description: str, total: int | None, unit: str, display: Any) -> None:
        super().__init__(description, total, unit)
        self._display = display
        self._task = display.add_task(description, total=total, unit=unit)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._display.update(self._task, completed=self.done)

    def update(
        self, *, done: int | None = None, total: int | None = None, description: str | None = None
    ) -> None:
        super().update(done=done, total=total, description=description)
        self._display.update(
            self._task, completed=self.done, total=self.total, description=self.description
        )

    def _finish(self, failed: bool, nested: bool) -> None:
        if nested:
            self._display.remove_task(self._task)
        elif not failed and self.total is None:  # show it complete, not pulsing forever
            self._display.update(self._task, total=self.done, completed=self.done)


class _Display:
    """The one rich Progress shared by nested steps (rich allows one live display)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress: Any = None
        self._depth = 0

    def enter(self) -> tuple[Any, bool]:
        with self._lock:
            if self._progress is None:
                self._progress = _new_rich_progress()
                self._progress.start()
            self._depth += 1
            return self._progress, self._depth > 1

    def leave(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._progress is not None:
                self._progress.stop()
                self._progress = None


_DISPLAY = _Display()
_depth = threading.local()


def _new_rich_progress() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class CountColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            unit = task.fields.get("unit", "")
            total = f"/{_count(task.total)}" if task.total is not None else ""
            rate = f", {_count(task.speed)}/s" if task.speed else ""
            return Text(f"{_count(task.completed)}{total} {unit}{rate}")

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        CountColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def display_mode() -> str:
    """bar, log or off: ENCORE_PROGRESS if set, else bar on a terminal, log elsewhere."""
    settings = _settings()
    wanted = settings.encore_progress if settings else "auto"
    if wanted in ("bar", "log", "off"):
        return wanted
    stream = sys.stderr
    tty = bool(stream and hasattr(stream, "isatty") and stream.isatty())
    return "bar" if tty and tool_env("TERM") != "dumb" else "log"


def _every() -> float:
    settings = _settings()
    return settings.encore_progress_seconds if settings else DEFAULT_EVERY_SECONDS


def _settings() -> Settings | None:
    """The settings, or None when they cannot be read (progress never fails a job)."""
    try:
        return get_settings()
    except SettingsError:
        return None


@contextmanager
def progress(
    description: str,
    total: int | None = None,
    unit: str = "rows",
    *,
    every: float | None = None,
    mode: str | None = None,
) -> Iterator[Tracker]:
    """Track a step: a bar on a terminal, log lines elsewhere (see the module docstring).

    `total` may be None (unknown yet: `update(total=...)` later); `every` overrides the
    seconds between log lines, `mode` the display (bar, log, off).
    """
    mode = mode or display_mode()
    nested = getattr(_depth, "value", 0) > 0
    tracker: Tracker
    entered = False
    if mode == "bar":
        display, shared = _DISPLAY.enter()
        entered, nested = True, nested or shared
        tracker = BarTracker(description, total, unit, display)
    elif mode == "log":
        tracker = LogTracker(description, total, unit, _every() if every is None else every)
    else:
        tracker = Tracker(description, total, unit)
    _depth.value = getattr(_depth, "value", 0) + 1
    failed = True
    try:
        yield tracker
        failed = False
    finally:
        _depth.value -= 1
        try:
            tracker._finish(failed, nested)
        finally:
            if entered:
                _DISPLAY.leave()
