"""The small, typed result of a checkpoint run: what the store saves and the errors print.

great-expectations' own result objects are large, nested and version-specific; everything
downstream (the warehouse tables, the Airflow log, the tests) reads this instead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["critical", "warning", "info"]


@dataclass(frozen=True)
class RunContext:
    """Where a checkpoint ran from (all None outside Airflow)."""

    dag_id: str | None = None
    dag_run_id: str | None = None
    task_id: str | None = None
    try_number: int | None = None


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict, flattened."""

    asset: str
    expectation_type: str
    column: str | None
    kwargs: dict[str, Any]
    severity: Severity
    success: bool
    expected: str
    observed: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    examples: list[Any] = field(default_factory=list)
    error: str | None = None

    @property
    def is_failure(self) -> bool:
        """A failed critical expectation: it fails the checkpoint."""
        return not self.success and self.severity == "critical"

    @property
    def is_warning(self) -> bool:
        """A failed expectation below critical: logged and stored, never fatal."""
        return not self.success and self.severity != "critical"


@dataclass(frozen=True)
class CheckpointSummary:
    """A whole checkpoint run: identity, timing and every expectation's outcome."""

    run_id: uuid.UUID
    checkpoint: str
    logical_date: dt.date
    started_at: dt.datetime
    finished_at: dt.datetime
    outcomes: tuple[ExpectationOutcome, ...]
    context: RunContext = RunContext()

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if outcome.is_failure]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if outcome.is_warning]

    @property
    def success(self) -> bool:
        return not self.failures

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def headline(self) -> str:
        verdict = "passed" if self.success else "FAILED"
        return (
            f"quality checkpoint {self.checkpoint!r} for {self.logical_date} {verdict}: "
            f"{len(self.outcomes)} expectations on {len({o.asset for o in self.outcomes})} "
            f"assets, {len(self.failures)} failed, {len(self.warnings)} warnings "
            f"({self.seconds:.1f} s, run_id {self.run_id})"
        )


def _cell(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(outcomes: list[ExpectationOutcome]) -> str:
    """A plain-text table of outcomes: asset, rule, column, observed vs expected, count,
    examples. Fixed-width so it reads well in an Airflow log and a terminal alike."""
    headers = (
        "severity",
        "asset",
        "rule",
        "column",
        "observed",
        "expected",
        "unexpected",
        "examples",
    )
    widths = (8, 30, 38, 22, 22, 34, 10, 50)
    rows: list[tuple[Any, ...]] = [headers]  # _cell prints any value
    for o in outcomes:
        observed = o.error or o.observed
        if isinstance(observed, float):
            observed = f"{observed:.4g}"
        rows.append(
            (
                o.severity,
                o.asset,
                o.expectation_type,
                o.column,
                observed,
                o.expected,
                "" if o.unexpected_count is None else o.unexpected_count,
                ", ".join(str(example) for example in o.examples[:3]),
            )
        )
    lines = [
        "  ".join(
            _cell(value, width).ljust(width) for value, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    ]
    return "\n".join(lines)
