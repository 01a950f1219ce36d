"""Encore transform: `raw.*` -> dbt staging, intermediate and marts, checked.

Runs whenever `encore_ingest` updates the asset `encore://warehouse/raw` (a checked raw
load). The `transform` group is cosmos's rendering of `dbt_project/`: one `dbt build` per
model (the model, its tests and unit tests); tests spanning several models get a task of
their own once all their parents are built. `fct_plays` and `fct_sessions` are incremental,
rebuilding whole days; param `full_refresh` rebuilds them from scratch (needed once after
their columns change).

`check_marts` (great-expectations, docs/data_quality.md) then checks unique keys, the
label's invariants, play times, row counts and the match rate; on success it updates the
asset `encore://warehouse/marts`, which the nightly `encore_recommend` listens to.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Param, dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import (
    ExecutionMode,
    InvocationMode,
    LoadMode,
    TestBehavior,
    TestIndirectSelection,
)
from encore_common import DAG_KWARGS, MARTS, RAW, quality_checkpoint

from config import get_settings
from ops.dbt_tasks import prepare_dbt_process

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"
DBT_TASK_DOC = (
    "A dbt node of `dbt_project/` run by cosmos (`dbt build` of the model with its "
    "tests and unit tests, or a test spanning several models). Rerun by hand: "
    "`cd dbt_project && uv run dbt build -s <model>`."
)


@dag(
    dag_id="encore_transform",
    schedule=[RAW],
    doc_md=__doc__,
    **DAG_KWARGS,
    params={
        "full_refresh": Param(
            False,
            type="boolean",
            description="rebuild the incremental marts from scratch (needed "
            "once after their columns change)",
        ),
        "quality_row_bounds": Param(
            True,
            type="boolean",
            description="compare row counts with the previous "
            "successful check (turn off once after a "
            "deliberate change of data size)",
        ),
    },
)
def encore_transform() -> None:
    transform = DbtTaskGroup(
        group_id="transform",
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT,
            manifest_path=DBT_PROJECT / "target" / "manifest.json",
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name="encore",
            target_name=get_settings().dbt_target,
            profiles_yml_filepath=DBT_PROJECT / "profiles.yml",
        ),
        # "cautious": a model's task runs only the tests all of whose parents it builds; a
        # test spanning several models runs once, in its own task (dbt's default, "eager",
        # also ran it inside the task of every parent).
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        # One `dbt build` per model (model + its tests + unit tests); tests that span
        # several models (relationships, point-in-time checks) get a task of their own once
        # all their parents are built.
        render_config=RenderConfig(
            load_method=LoadMode.AUTOMATIC,
            test_behavior=TestBehavior.BUILD,
            should_detach_multiple_parents_tests=True,
            emit_datasets=False,
        ),
        # cosmos renders the template and reads "True"/"False" as a boolean. No JSON
        # artifacts per task: writing manifest.json twice cost half of a small model's task
        # (the project's own target/ keeps the manifest cosmos renders from). No `dbt deps`:
        # ProjectConfig's install_dbt_deps=False reaches every task. pre_execute: two
        # per-task costs of dbt in a task process removed (ops/dbt_tasks.py).
        operator_args={
            "full_refresh": "{{ params.full_refresh }}",
            "dbt_cmd_global_flags": ["--no-write-json"],
            "pre_execute": prepare_dbt_process,
        },
    )
    # cosmos's operators carry no docs of their own: say what they are and how to rerun one.
    for dbt_task in transform:
        dbt_task.doc_md = dbt_task.doc_md or DBT_TASK_DOC

    @task(outlets=[MARTS])
    def check_marts(params: dict | None = None) -> int:
        """Checkpoint `marts`: unique keys, the label's invariants, play times, row counts and
        the share of plays matched to a known track, before the model trains on them. On
        success the MARTS asset is updated, which triggers `encore_recommend`."""
        assert params is not None
        return quality_checkpoint("marts", params)

    transform >> check_marts()


encore_transform()
