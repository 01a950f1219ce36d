"""The dbt project's vars (`dbt_project/dbt_project.yml`) that Python reads too: the
candidate generators and the feature columns are declared there once, for the models and
for `ml/` alike."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from warehouse.paths import dbt_project_dir


@cache
def dbt_vars() -> dict[str, Any]:
    """The `vars:` of dbt_project.yml (a `--vars` override at `dbt` run time is not seen)."""
    project = yaml.safe_load((dbt_project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    return dict(project.get("vars") or {})


def dbt_var(name: str) -> Any:
    """One of them; KeyError names it when dbt_project.yml lacks it."""
    try:
        return dbt_vars()[name]
    except KeyError:
        raise KeyError(f"dbt_project.yml declares no var {name!r}") from None
