"""Where Encore keeps its local state.

Everything a run leaves on disk (the embedded PostgreSQL cluster, Airflow's home, model
artifacts, logs) lives under one git-ignored folder, `.encore/` at the project root, so a
clone is self-contained and `rm -rf .encore` is a full reset. `ENCORE_HOME` moves it.
"""

from __future__ import annotations

from pathlib import Path

from config import PROJECT_ROOT, get_settings

__all__ = ["PROJECT_ROOT", "artifacts_dir", "dbt_project_dir", "shared_data_dir", "state_dir"]


def state_dir() -> Path:
    """The folder for local state (created on demand)."""
    path = get_settings().encore_home
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir() -> Path:
    """Where trained models are kept (`ENCORE_ARTIFACTS_DIR` overrides)."""
    state_dir()
    path = get_settings().artifacts_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def dbt_project_dir() -> Path:
    return PROJECT_ROOT / "dbt_project"


def shared_data_dir() -> Path:
    """The read-only shared data folder (`ENCORE_SHARED_DATA`, default `../shared/data`)."""
    return get_settings().encore_shared_data
