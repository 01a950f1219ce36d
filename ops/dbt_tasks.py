"""The `pre_execute` hook of the transform's cosmos tasks: two per-task costs of running dbt
inside an Airflow task process, removed before dbt starts (docs/benchmarks.md, "The
transform's Python overhead").

- dbt-common names the module that defines each behavior flag by walking `inspect.stack()`,
  even when the flag names its source; inside Airflow's process (thousands of modules, deep
  stacks) each walk reads source files and scans `sys.modules`, and dbt builds about 40
  flags per command. `fast_flag_source` gives the same name from the frames' globals.
- cosmos ends every dbt command with a full `gc.collect()`, which scans every object the
  task process holds (Airflow, dbt, cosmos). `gc.freeze()` first moves what is already
  loaded out of the collector's reach, so that collection only scans what the task added.
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
    if getattr(flag_class._default_source, "encore", False):
        return
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


_flag_source.encore = True  # type: ignore[attr-defined]
