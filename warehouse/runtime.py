"""The environment for the processes Encore starts: dbt, Airflow, the tests' DAG runs.

`python -m warehouse env` prints it as `export` lines; the Makefile evals them, so the
command line, the Airflow UI and the test suite all see the same warehouse, the same
Airflow home inside the project, and the same quiet, bounded settings.
"""

from __future__ import annotations

from pathlib import Path

from warehouse.connections import dbt_env
from warehouse.paths import PROJECT_ROOT, state_dir


def airflow_settings(home: Path | None = None) -> dict[str, str]:
    """Airflow configuration: a project-local home (or `home`), modest parallelism, no
    phoning home."""
    home = home or state_dir() / "airflow"
    return {
        "AIRFLOW_HOME": str(home),
        # cosmos keeps dbt's partial-parse file here; its default, /tmp/cosmos, is shared by
        # every project and test run on the machine, whose profiles differ (a full parse)
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": "8080",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__DBT_DOCS_DIR": str(PROJECT_ROOT / "dbt_project" / "target"),
        "SCARF_ANALYTICS": "false",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def runtime_env() -> dict[str, str]:
    """Everything dbt and Airflow need, derived from the one warehouse URL."""
    return {**dbt_env(), **airflow_settings()}
