"""Airflow's REST API (v2) as any HTTP client uses it: a bearer token from `/auth/token`,
then JSON. The compose check (ops/compose_check.py) and the suite's Airflow UI test drive
the pipeline's DAGs through it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote


class AirflowApiError(RuntimeError):
    """A call was refused (4xx), or failed (5xx, no answer) on every attempt."""


class AirflowApi:
    """The REST API of the Airflow at `url` (no trailing slash), with a bearer `token`."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    @classmethod
    def login(cls, url: str, user: str, password: str) -> AirflowApi:
        """Log in as `user` (POST /auth/token) and keep the token."""
        body = json.dumps({"username": user, "password": password}).encode()
        request = urllib.request.Request(
            f"{url}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return cls(url, json.loads(response.read())["access_token"])

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, attempts: int = 5
    ) -> Any:
        """One call to `/api/v2{path}`; a 5xx or no answer is retried (standalone's SQLite
        metadata database answers 'database is locked' now and then while the scheduler
        writes)."""
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(1, attempts + 1):
            request = urllib.request.Request(
                f"{self.url}/api/v2{path}",
                data=data,
                method=method,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                if error.code < 500 or attempt == attempts:
                    detail = error.read()[:500]
                    raise AirflowApiError(f"{method} {path}: {error.code} {detail!r}") from error
            except (urllib.error.URLError, OSError) as error:
                if attempt == attempts:
                    raise AirflowApiError(f"{method} {path}: {error}") from error
            time.sleep(2 * attempt)
        raise AssertionError("unreachable")

    def has_dag(self, dag_id: str) -> bool:
        """Whether the DAG processor has parsed `dag_id`."""
        listed = self.call("GET", f"/dags?dag_id_pattern={dag_id}")["dags"]
        return any(dag["dag_id"] == dag_id for dag in listed)

    def trigger_next(self, dag_id: str, conf: Mapping[str, Any], note: str) -> dict[str, Any]:
        """Trigger `dag_id` with `conf` for the date the scheduler would run next. Unpausing a
        DAG with a time schedule makes the scheduler start the latest missed interval at once,
        with the default params; finding a run at that date, it starts none. (Such a run
        would load the full-size default world; had its checkpoint passed first, its row
        counts would have become the bounds a smaller world then fails.)"""
        next_run = self.call("GET", f"/dags/{dag_id}")["next_dagrun_logical_date"]
        return self.call(
            "POST",
            f"/dags/{dag_id}/dagRuns",
            {"logical_date": next_run, "conf": dict(conf), "note": note},
        )

    def run_path(self, dag_id: str, run_id: str) -> str:
        return f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's latest 100 runs."""
        return self.call("GET", f"/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"{self.run_path(dag_id, run_id)}/taskInstances?limit=200"
        return self.call("GET", path)["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """`task_id[map_index]` -> state, for every task instance of the run."""
        return {
            f"{ti['task_id']}[{ti['map_index']}]": ti["state"]
            for ti in self.task_instances(dag_id, run_id)
        }

    def log_tail(self, ti: Mapping[str, Any], lines: int = 40) -> str:
        """The last `lines` events of a task instance's latest try, as the UI shows them."""
        path = (
            f"{self.run_path(ti['dag_id'], ti['dag_run_id'])}/taskInstances/"
            f"{quote(ti['task_id'], safe='')}/logs/{ti['try_number']}"
            f"?full_content=true&map_index={ti['map_index']}"
        )
        content = self.call("GET", path).get("content", [])
        events = [e if isinstance(e, str) else e.get("event", "") for e in content]
        return "\n".join(events[-lines:])
