"""`python -m bench.train_memory [--artifacts DIR]`: the nightly training task
(`ml.train.train` with the list model) on the warehouse of `WAREHOUSE_URL` (default: the
configured one; a bench database kept with `python -m bench --keep` works), with its
resident memory sampled every 0.1 s and printed per phase and for the
work between phases (such as the repeat model's validation predictions): where the task's
peak RSS is.
"""

from __future__ import annotations

import argparse
import functools
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

SAMPLE_SECONDS = 0.1
PHASES = (
    ("ml.train", "_read_split", "read and split the labelled pairs"),
    ("ml.train", "_fit", "repeat model: search, blend, refit"),
    ("ml.baselines", "baseline_scores", "the baselines' scores of the validation rows"),
    ("ml.train", "_evaluate", "repeat model: metrics beside the baselines"),
    ("ml.train", "read_outcomes", "read the past cut-offs' candidates"),
    ("ml.train", "fit_list_model", "list model"),
    ("ml.rankers", "choose", "ranking choice"),
    ("ml.train", "_backtest_summary", "backtest at cut-off 1"),
)


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Sampler:
    """The process's RSS every SAMPLE_SECONDS; `peak_since_mark()` since the last call."""

    def __init__(self) -> None:
        self._peak = 0.0
        self.last_mark = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss_mib())
            self._stop.wait(SAMPLE_SECONDS)

    def peak_since_mark(self) -> float:
        peak, self._peak = max(self._peak, _rss_mib()), 0.0
        self.last_mark = time.perf_counter()
        return peak

    @contextmanager
    def running(self) -> Iterator[None]:
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join()


def _wrap(
    module: Any, name: str, label: str, sampler: Sampler, rows: list[tuple[str, float, float]]
) -> None:
    """Replace `module.name` by a version that records its seconds and peak RSS."""
    function: Callable[..., Any] = getattr(module, name)

    @functools.wraps(function)
    def measured(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        gap = started - sampler.last_mark
        rows.append((f"  (before: {label})", gap, sampler.peak_since_mark()))
        try:
            return function(*args, **kwargs)
        finally:
            rows.append((label, time.perf_counter() - started, sampler.peak_since_mark()))

    setattr(module, name, measured)


def main() -> int:
    import importlib

    from observability.logs import configure_logging

    configure_logging()
    parser = argparse.ArgumentParser(prog="python -m bench.train_memory", description=__doc__)
    parser.add_argument("--artifacts", type=Path, help="model folder (default: a temporary one)")
    args = parser.parse_args()

    from ml.train import train
    from warehouse.connections import connect

    sampler = Sampler()
    rows: list[tuple[str, float, float]] = []
    for module_name, name, label in PHASES:
        _wrap(importlib.import_module(module_name), name, label, sampler, rows)
    artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix="encore-train-memory-"))
    started = time.perf_counter()
    try:
        with sampler.running(), connect() as conn:
            run = train(conn, artifacts_dir=artifacts, list_model=True)
    finally:
        if args.artifacts is None:
            shutil.rmtree(artifacts, ignore_errors=True)
    seconds = time.perf_counter() - started
    table = Table(title=f"training {run.train_rows:,} + {run.valid_rows:,} labelled pairs")
    for column in ("phase", "seconds", "peak RSS MiB"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for label, phase_seconds, peak in rows:
        if label.startswith("  (") and phase_seconds < 1.0:
            continue  # phases back to back
        table.add_row(label, f"{phase_seconds:,.1f}", f"{peak:,.0f}")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table.add_row("whole task", f"{seconds:,.1f}", f"{maxrss:,.0f}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
