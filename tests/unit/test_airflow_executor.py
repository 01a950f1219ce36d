"""`make airflow` runs tasks with the LocalExecutor subclass of ops/airflow_executor.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from airflow.executors.local_executor import LocalExecutor

from ops import airflow_executor, airflow_server


def test_make_airflow_selects_the_preloading_executor(tmp_path: Path) -> None:
    path = airflow_server.settings(8080, tmp_path)["AIRFLOW__CORE__EXECUTOR"]
    module, _, name = path.rpartition(".")
    executor = getattr(importlib.import_module(module), name)
    assert executor is airflow_executor.PreloadingLocalExecutor
    assert issubclass(executor, LocalExecutor) and executor.is_local  # standalone keeps it


def test_every_preloaded_module_exists() -> None:
    for module in airflow_executor.PRELOADED_MODULES:
        assert importlib.util.find_spec(module) is not None, module
