"""ops/compose_check.py without a Docker engine: the throwaway secrets and ports, the rule that
every task ran on a worker and every worker ran a task, and the exit codes and outcome file
that `.ci/run` reads to tell a failed stack (fail) from a machine that cannot run one (skip)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from ops import compose_check
from ops.compose_check import CheckFailed, Environment, Missing


def test_throwaway_environment_generates_every_secret_and_distinct_ports() -> None:
    base = {"PATH": "/usr/bin", "COMPOSE_PROJECT_NAME": "encore", "ENCORE_READER_PASSWORD": "x"}
    env = compose_check.throwaway_environment(base)
    secrets = [env[name] for name in compose_check.SECRET_NAMES]
    assert len(set(secrets)) == len(secrets) and "x" not in secrets
    assert all(len(value) >= 24 for value in secrets)
    key = env["AIRFLOW__CORE__FERNET_KEY"]
    assert len(base64.urlsafe_b64decode(key)) == 32  # what Fernet requires
    ports = [int(env[name]) for name in compose_check.PORT_NAMES]
    assert len(set(ports)) == len(ports) and all(1024 < port < 65536 for port in ports)
    assert "COMPOSE_PROJECT_NAME" not in env  # `-p encore-check` names the project
    assert base["ENCORE_READER_PASSWORD"] == "x" and env["PATH"] == "/usr/bin"


class FakeAirflow:
    """Task instances by run id, as the REST API lists them."""

    def __init__(self, instances: dict[str, list[dict[str, Any]]]) -> None:
        self.instances = instances

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.instances[run_id]


def _ti(task_id: str, hostname: str | None, state: str = "success", map_index: int = -1) -> dict:
    return {"task_id": task_id, "hostname": hostname, "state": state, "map_index": map_index}


WORKERS = {"a1b2c3": "encore-check_airflow-worker_1", "d4e5f6": "encore-check_airflow-worker_2"}
RUNS = {"encore_ingest": {"dag_run_id": "r1"}, "encore_recommend": {"dag_run_id": "r2"}}


def test_task_hosts_lists_each_workers_tasks() -> None:
    api = FakeAirflow(
        {
            "r1": [_ti("prepare_warehouse", "a1b2c3"), _ti("lastfm.extract", None, "skipped")],
            "r2": [_ti("score_shard", "d4e5f6", map_index=1), _ti("train_model", "a1b2c3")],
        }
    )
    by_worker = compose_check.task_hosts(api, RUNS, WORKERS)
    assert by_worker == {
        "encore-check_airflow-worker_1": [
            "encore_ingest.prepare_warehouse",
            "encore_recommend.train_model",
        ],
        "encore-check_airflow-worker_2": ["encore_recommend.score_shard[1]"],
    }


def test_a_task_off_the_workers_fails() -> None:
    api = FakeAirflow(
        {
            "r1": [_ti("prepare_warehouse", "a1b2c3")],
            "r2": [_ti("train_model", "scheduler-host"), _ti("publish", "d4e5f6")],
        }
    )
    with pytest.raises(CheckFailed, match="train_model on 'scheduler-host'"):
        compose_check.task_hosts(api, RUNS, WORKERS)


def test_an_idle_worker_fails() -> None:
    api = FakeAirflow({"r1": [_ti("prepare_warehouse", "a1b2c3")], "r2": []})
    with pytest.raises(CheckFailed, match="worker_2"):
        compose_check.task_hosts(api, RUNS, WORKERS)


def test_a_failed_step_is_in_the_table_and_raised() -> None:
    steps = compose_check.Steps()
    with steps.step("first") as note:
        note.append("fine")
    with pytest.raises(CheckFailed), steps.step("second"):
        raise CheckFailed("broken")
    table = steps.table()
    assert "first" in table and "fine" in table
    assert "second" in table and "FAILED: broken" in table
    assert table.splitlines()[-1].startswith("total")


@pytest.mark.parametrize(
    ("error", "code", "outcome"),
    [
        (Missing("no dockerd"), 2, "missing: no dockerd"),
        (Environment("dockerd did not start"), 3, "environment: dockerd did not start"),
        (CheckFailed("airflow-init exited 1"), 1, "failed: airflow-init exited 1"),
    ],
)
def test_exit_code_and_outcome_file(
    error: Exception, code: int, outcome: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `.ci/run` reads: `missing:` and `environment:` skip, anything else fails CI."""
    monkeypatch.setattr(compose_check, "STATE", tmp_path)
    monkeypatch.setattr(compose_check, "OUTCOME", tmp_path / "outcome")

    def tools(note: list[str]) -> None:
        raise error

    monkeypatch.setattr(compose_check, "ensure_tools", tools)
    assert compose_check.main([]) == code
    assert (tmp_path / "outcome").read_text().strip() == outcome


def test_the_ci_script_skips_only_on_environment_outcomes() -> None:
    ci = (Path(compose_check.ROOT) / ".ci" / "run").read_text()
    assert "make compose-check" in ci
    assert "missing:* | environment:*)" in ci
    assert "exit 1 ;;" in ci
