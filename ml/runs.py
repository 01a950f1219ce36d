"""ml.model_runs: the registry of trained models that scoring and publishing pick from.

"Latest" always means the newest run with status `succeeded`, so a half-finished or failed
training run can never be picked up by a later score or publish step.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class ModelRun:
    """One training run, as stored in ml.model_runs; `metrics` holds every evaluation number
    (per-user AUCs, ranking baselines), the columns the headline ones."""

    run_id: uuid.UUID
    model_version: str
    trained_at: datetime
    status: str
    train_rows: int
    valid_rows: int
    train_from: datetime
    train_until: datetime
    valid_from: datetime
    valid_until: datetime
    auc: float
    log_loss: float
    baseline_auc: float
    baseline_log_loss: float
    positive_rate: float
    params: dict[str, Any]
    features: list[str]
    artifact_path: Path
    metrics: dict[str, Any] = field(default_factory=dict)


def record_run(conn: psycopg.Connection, run: ModelRun) -> None:
    """Insert the run into ml.model_runs (committed unless the caller holds a transaction)."""
    with conn.transaction():
        conn.execute(
            """
            insert into ml.model_runs (
                run_id, model_version, trained_at, status, train_rows, valid_rows,
                train_from, train_until, valid_from, valid_until, auc, log_loss,
                baseline_auc, baseline_log_loss, positive_rate, params, features, artifact_path,
                user_auc, baseline_user_auc, metrics
            ) values (
                %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                %s, %s, %s
            )
            """,
            [
                run.run_id,
                run.model_version,
                run.trained_at,
                run.status,
                run.train_rows,
                run.valid_rows,
                run.train_from,
                run.train_until,
                run.valid_from,
                run.valid_until,
                run.auc,
                run.log_loss,
                run.baseline_auc,
                run.baseline_log_loss,
                run.positive_rate,
                Jsonb(finite(run.params)),
                Jsonb(run.features),
                str(run.artifact_path),
                _finite_or_none(run.metrics.get("user_auc")),
                _finite_or_none(run.metrics.get("baseline_user_auc")),
                Jsonb(finite(run.metrics)),
            ],
        )


def finite(value: Any) -> Any:
    """`value` with every NaN/inf float replaced by None (jsonb has no NaN: an AUC undefined
    for lack of a class is stored as null)."""
    if isinstance(value, float):
        return _finite_or_none(value)
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def _finite_or_none(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def run_metrics(conn: psycopg.Connection, model_version: str) -> dict[str, Any] | None:
    """The run's `metrics` jsonb (None when the run is not registered here)."""
    row = conn.execute(
        "select metrics from ml.model_runs where model_version = %s", [model_version]
    ).fetchone()
    return None if row is None else (row[0] or {})


def set_report_path(conn: psycopg.Connection, model_version: str, path: str) -> None:
    """Record where the run's report is (`metrics.report_path`)."""
    with conn.transaction():
        conn.execute(
            "update ml.model_runs set metrics = jsonb_set(coalesce(metrics, '{}'::jsonb), "
            "'{report_path}', to_jsonb(%s::text)) where model_version = %s",
            [path, model_version],
        )


def latest_version(conn: psycopg.Connection, *, scored: bool = False) -> str:
    """The newest succeeded model version; with `scored`, the newest that has ml.scores rows.

    Raises LookupError when there is none, naming the step that has to run first.
    """
    query = "select model_version from ml.model_runs r where status = %s"
    if scored:
        query += " and exists (select 1 from ml.scores s where s.model_version = r.model_version)"
    query += " order by trained_at desc, model_version desc limit 1"
    row = conn.execute(query, [SUCCEEDED]).fetchone()
    if row is None:
        step = "`python -m ml score`" if scored else "`python -m ml train`"
        raise LookupError(f"no succeeded model run{' with scores' if scored else ''}; run {step}")
    return str(row[0])
