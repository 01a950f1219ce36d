"""ops.dbt_tasks, the cosmos tasks' pre_execute: a behavior flag still names the module
that built it, and the hook can run again in the same process."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from dbt_common import behavior_flags

from ops import dbt_tasks

FLAG: behavior_flags.BehaviorFlag = {
    "name": "encore_test_flag",
    "default": False,
    "description": "d",
}


@pytest.fixture
def restored() -> Iterator[None]:
    original = behavior_flags.BehaviorFlagRendered.__dict__["_default_source"]
    yield
    behavior_flags.BehaviorFlagRendered._default_source = original  # type: ignore[method-assign]
    gc.unfreeze()


def _source() -> str:
    flag = behavior_flags.BehaviorFlagRendered(FLAG, {})
    return str(flag._behavior_change_event.flag_source)


def test_a_flag_names_the_same_module_as_before(restored: None) -> None:
    before = _source()
    dbt_tasks.prepare_dbt_process()
    dbt_tasks.prepare_dbt_process()  # a second task in the same process (`dags test`)

    assert behavior_flags.BehaviorFlagRendered._default_source is dbt_tasks._flag_source
    assert _source() == before == __name__
    assert gc.get_freeze_count() > 0


def test_a_given_source_is_kept(restored: None) -> None:
    dbt_tasks.prepare_dbt_process()
    flag = behavior_flags.BehaviorFlagRendered({**FLAG, "source": "dbt.adapters.x"}, {})
    assert flag._behavior_change_event.flag_source == "dbt.adapters.x"
