"""Where Encore keeps its local state.

Everything a run leaves on disk (the embedded PostgreSQL cluster, Airflow's home, model
artifacts, logs) lives under one git-ignored folder, `.encore/` at the project root, so a
clone is self-contained and `rm -rf .encore` is a full reset. `ENCORE_HOME` moves it.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """The folder for local state (created on demand)."""
    path = Path(os.environ.get("ENCORE_HOME", PROJECT_ROOT / ".encore")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir() -> Path:
    """Where trained models are kept (`ENCORE_ARTIFACTS_DIR` overrides)."""
    override = os.environ.get("ENCORE_ARTIFACTS_DIR")
    path = Path(override).resolve() if override else state_dir() / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def dbt_project_dir() -> Path:
    return PROJECT_ROOT / "dbt_project"


def shared_data_dir() -> Path:
    """The read-only shared data folder (`ENCORE_SHARED_DATA`, default `../shared/data`)."""
    return Path(os.environ.get("ENCORE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
