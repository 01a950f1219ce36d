"""The executor of `make airflow`: Airflow's LocalExecutor, with dbt imported before it forks.

Every task of the LocalExecutor runs in a process forked from a worker, which is forked from
the scheduler; whatever the scheduler has imported, each task starts with. A cosmos task
otherwise imports dbt and its PostgreSQL adapter itself, about 3 s of CPU each on the
machines Encore targets, for every one of the transform DAG's dozens of tasks. Importing
them once in the scheduler, before the first worker forks, takes that off every task.
"""

from __future__ import annotations

from airflow.executors.local_executor import LocalExecutor

# Imported in the scheduler, inherited by every task process (names checked by a test).
PRELOADED_MODULES = ("dbt.cli.main", "dbt.adapters.postgres", "cosmos.operators.local")


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor that imports `PRELOADED_MODULES` in the scheduler before forking."""

    def start(self) -> None:
        import importlib

        for module in PRELOADED_MODULES:
            importlib.import_module(module)
        super().start()
