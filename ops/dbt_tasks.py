"""The `pre_execute` hook of the transform's cosmos tasks: it removes two per-task costs of
running dbt inside an Airflow task process, dbt-common's `inspect.stack()` walk for each
behavior flag and the full `gc.collect()` cosmos runs after each dbt command
(docs/benchmarks.md, "The transform's Python overhead").
"""

from __future__ import annotations

import gc
import sys
from typing import Any


def prepare_dbt_process(context: Any = None) -> None:
    """Make this process's dbt commands cheap to start and end (idempotent)."""
    fast_flag_source()
    gc.freeze()


def fast_flag_source() -> None:
    """Replace dbt-common's stack walk for a behavior flag's source (see the module doc)."""
    from dbt_common import behavior_flags

    flag_class = behavior_flags.BehaviorFlagRendered
    flag_class._default_source = staticmethod(_flag_source)  # type: ignore[method-assign]


def _flag_source() -> str:
    """The innermost calling module outside dbt_common.behavior_flags, as dbt-common's
    `_default_source` finds it, from each frame's globals instead of its source file."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name and name != "dbt_common.behavior_flags":
            return str(name)
        frame = frame.f_back  # type: ignore[assignment]
    return "Unknown"
