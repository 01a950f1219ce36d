"""Real runs of the DAGs from the tests, through the `airflow` CLI in the test's Airflow
home: `airflow dags test`, and Airflow's record of a run's task states."""

from __future__ import annotations

import json
import subprocess

import pytest

from config import subprocess_env
from warehouse.connections import dbt_env

INGEST, TRANSFORM, RECOMMEND = "encore_ingest", "encore_transform", "encore_recommend"
LOGICAL_DATE = "2026-06-01"


def run_env(warehouse_url: str) -> dict[str, str]:
    """The environment of a real run against `warehouse_url` (dbt's variables included)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_URL", warehouse_url)
        return subprocess_env(dbt_env())


def dags_test(
    env: dict[str, str],
    dag_id: str,
    conf: dict,
    logical_date: str = LOGICAL_DATE,
) -> str:
    """One real `airflow dags test` run; asserts it succeeded and returns its log."""
    result = subprocess.run(
        ["airflow", "dags", "test", dag_id, logical_date, "--conf", json.dumps(conf)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    assert "failed" not in _final_states(log), log[-6000:]
    return log


def _final_states(log: str) -> str:
    return " ".join(line for line in log.splitlines() if "Marking run" in line)


def task_states(dag_id: str, dag_run_id: str) -> dict[str, list[str]]:
    """Airflow's record of a run: each task's states (one per mapped instance)."""
    result = subprocess.run(
        ["airflow", "tasks", "states-for-dag-run", dag_id, dag_run_id, "-o", "json"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    states: dict[str, list[str]] = {}
    for row in _json_rows(result.stdout):
        states.setdefault(row["task_id"], []).append(row["state"])
    return states


def _json_rows(stdout: str) -> list[dict]:
    """The JSON array an `airflow ... -o json` command printed (log lines may surround it)."""
    decoder = json.JSONDecoder()
    for index, char in enumerate(stdout):
        if char != "[":
            continue
        try:
            rows, _ = decoder.raw_decode(stdout, index)
        except json.JSONDecodeError:
            continue
        if isinstance(rows, list) and rows and all(isinstance(row, dict) for row in rows):
            return rows
    raise AssertionError(f"no JSON rows in: {stdout[-2000:]}")
