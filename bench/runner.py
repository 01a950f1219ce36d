"""Run one stage in a child process and measure it.

The child (`python -m bench.stages`) times its own work; the parent reaps it with
`os.wait4`, which returns that child's resource usage alone, so `peak_rss_mib` is the
stage process's maximum resident set (Python, polars, LightGBM, dbt's threads). Other
processes are not included: the PostgreSQL server's backends do their share of a load,
a dbt build or a publish in their own memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import subprocess_env, tool_env
from warehouse.paths import PROJECT_ROOT


class StageFailed(RuntimeError):
    """A stage's process exited with an error; the message ends with its log's tail."""


@dataclass(frozen=True)
class StageRun:
    """One stage's measurements."""

    stage: str
    seconds: float
    rows: int
    peak_rss_mib: float
    process_seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


def stage_env(database_url: str, workdir: Path) -> dict[str, str]:
    """The child's environment: the benchmark database everywhere (Python, dbt), model
    artifacts in the work folder, the project importable."""
    env = subprocess_env(
        {
            "WAREHOUSE_URL": database_url,
            "ENCORE_ARTIFACTS_DIR": str(workdir / "artifacts"),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(PROJECT_ROOT), tool_env("PYTHONPATH")])
            ),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "DO_NOT_TRACK": "1",
        }
    )
    for key in (
        "ENCORE_PG_HOST",
        "ENCORE_PG_PORT",
        "ENCORE_PG_USER",
        "ENCORE_PG_PASSWORD",
        "ENCORE_PG_DATABASE",
    ):
        env.pop(key, None)  # derived again from WAREHOUSE_URL by the dbt stage
    return env


def run_stage(stage: str, *, database_url: str, workdir: Path, scale: dict[str, Any]) -> StageRun:
    """Run `stage` in a fresh interpreter and return its measurements."""
    result_file = workdir / f"{stage}.json"
    log_file = workdir / f"{stage}.log"
    result_file.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "bench.stages",
        stage,
        "--workdir",
        str(workdir),
        "--scale",
        json.dumps(scale),
        "--result",
        str(result_file),
    ]
    started = time.perf_counter()
    with log_file.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=stage_env(database_url, workdir),
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    process_seconds = time.perf_counter() - started
    if process.returncode != 0 or not result_file.exists():
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-40:])
        raise StageFailed(
            f"stage {stage} failed (exit {process.returncode}); log {log_file}:\n{tail}"
        )
    result = json.loads(result_file.read_text())
    return StageRun(
        stage=stage,
        seconds=float(result["seconds"]),
        rows=int(result["rows"]),
        peak_rss_mib=usage.ru_maxrss / 1024,
        process_seconds=process_seconds,
        details=result.get("details") or {},
    )
