"""The three Airflow DAGs: they import cleanly and have the expected shape and links.

The real chain (ingest -> transform -> recommend, then a second nightly run that skips
training) runs once, through the scheduler, in tests/integration/test_airflow_ui.py, which
asserts the serving contract, the checkpoints and the nightly policy on it;
tests/integration/test_real_histories.py runs the same three DAGs with `airflow dags test`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from config import subprocess_env
from tests.support.airflow_cli import INGEST, RECOMMEND, TRANSFORM
from warehouse.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

DAGS = PROJECT_ROOT / "dags"
PIPELINE = [INGEST, TRANSFORM, RECOMMEND]
RAW_URI, MARTS_URI = "encore://warehouse/raw", "encore://warehouse/marts"
RECOMMENDATIONS_URI = "encore://serving/recommendations"
INGEST_TASKS = [
    "prepare_warehouse",
    "synthetic.generate_synthetic_listeners",
    "synthetic.load_raw",
    "files.land_files",
    "files.load_files",
    "lastfm.lastfm_users",
    "lastfm.extract_lastfm_user",
    "lastfm.load_lastfm",
    "spotify.extract_spotify",
    "spotify.load_spotify",
    "check_raw_loads",
]
RECOMMEND_TASKS = [
    "decide_training",
    "train_model",
    "plan_score_shards",
    "score_shard",
    "publish_recommendations",
]
LOADS = ["synthetic.load_raw", "files.load_files", "lastfm.load_lastfm", "spotify.load_spotify"]


@pytest.fixture(scope="module")
def dags() -> dict:
    """The DAGs as the scheduler parses them: a bundle DagBag puts the dags folder on
    sys.path, which the DAG files need for `encore_common`."""
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS)
    assert bag.import_errors == {}, bag.import_errors
    assert set(PIPELINE) <= set(bag.dags)
    return bag.dags  # get_dag() would consult the metadata DB; parsing needs none


def _uris(condition) -> set[str]:
    """Every asset URI in a schedule's asset condition (an Asset, or AssetAll/AssetAny)."""
    if hasattr(condition, "objects"):
        return set().union(*(_uris(part) for part in condition.objects))
    return {condition.uri}


def _downstream(dag, task_id: str) -> set[str]:
    return dag.get_task(task_id).get_flat_relative_ids(upstream=False)


def test_the_dags_are_linked_by_assets(dags) -> None:
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    ingest, transform, recommend = (dags[dag_id] for dag_id in PIPELINE)
    # ingest: daily, no catchup, one run at a time; its last task updates RAW.
    assert ingest.catchup is False and ingest.max_active_runs == 1
    assert isinstance(ingest.timetable, CronTriggerTimetable)
    assert ingest.timetable.expression == "0 0 * * *"  # @daily
    assert [task.task_id for task in ingest.tasks if task.outlets] == ["check_raw_loads"]
    assert {asset.uri for asset in ingest.get_task("check_raw_loads").outlets} == {RAW_URI}
    assert ingest.get_task("check_raw_loads").downstream_task_ids == set()
    # transform: scheduled by RAW; its checkpoint updates MARTS.
    assert _uris(transform.timetable.asset_condition) == {RAW_URI}
    assert {asset.uri for asset in transform.get_task("check_marts").outlets} == {MARTS_URI}
    # recommend: 03:00 UTC or MARTS, whichever first; publishes RECOMMENDATIONS.
    assert isinstance(recommend.timetable, AssetOrTimeSchedule)
    assert _uris(recommend.timetable.asset_condition) == {MARTS_URI}
    assert isinstance(recommend.timetable.timetable, CronTriggerTimetable)
    assert recommend.timetable.timetable.expression == "0 3 * * *"
    assert {asset.uri for asset in recommend.get_task("publish_recommendations").outlets} == {
        RECOMMENDATIONS_URI
    }


def test_ingest_has_every_source_before_the_raw_checkpoint(dags) -> None:
    dag = dags[INGEST]
    assert set(INGEST_TASKS) == set(dag.task_ids)
    assert {
        "synthetic.generate_synthetic_listeners",
        "files.land_files",
        "lastfm.lastfm_users",
    } <= _downstream(dag, "prepare_warehouse")
    assert "synthetic.load_raw" in _downstream(dag, "synthetic.generate_synthetic_listeners")
    # Spotify looks up what the other play sources loaded, so it runs after them.
    assert "spotify.extract_spotify" in (
        _downstream(dag, "files.load_files") & _downstream(dag, "lastfm.load_lastfm")
    )
    lastfm = dag.get_task("lastfm.extract_lastfm_user")
    assert lastfm.max_active_tis_per_dagrun == 1 and lastfm.is_mapped
    for load in LOADS:  # the raw checkpoint sees every load
        assert "check_raw_loads" in _downstream(dag, load), load


def test_transform_checks_the_marts_after_every_dbt_task(dags) -> None:
    dag = dags[TRANSFORM]
    dbt_tasks = {task_id for task_id in dag.task_ids if task_id.startswith("transform.")}
    assert any("fct_first_plays" in task_id for task_id in dbt_tasks)
    assert any("fct_candidate_features" in task_id for task_id in dbt_tasks)
    assert set(dag.task_ids) == dbt_tasks | {"check_marts"}
    assert all("check_marts" in _downstream(dag, task_id) for task_id in dbt_tasks)


def test_recommend_gates_training_and_maps_scoring_over_shards(dags) -> None:
    dag = dags[RECOMMEND]
    assert set(RECOMMEND_TASKS) == set(dag.task_ids)
    # The retrain policy gates training only: scoring and publishing run either way.
    assert dag.get_task("decide_training").downstream_task_ids == {"train_model"}
    assert dag.get_task("decide_training").ignore_downstream_trigger_rules is False
    assert _downstream(dag, "train_model") >= {
        "plan_score_shards",
        "score_shard",
        "publish_recommendations",
    }
    assert dag.get_task("plan_score_shards").trigger_rule == "none_failed"
    assert dag.get_task("publish_recommendations").trigger_rule == "none_failed"
    score_shard = dag.get_task("score_shard")
    assert score_shard.is_mapped
    assert score_shard.upstream_task_ids == {"plan_score_shards"}
    assert dag.params["score_shards"] == 4


def test_every_task_has_docs_retries_with_backoff_and_the_failure_callback(dags) -> None:
    for dag_id in PIPELINE:
        dag = dags[dag_id]
        assert dag.doc_md and dag.doc_md.strip(), dag_id
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            assert task.doc_md and task.doc_md.strip(), where
            assert task.retries >= 2, where
            assert task.retry_exponential_backoff >= 2, where
            assert task.max_retry_delay is not None, where
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert any(getattr(cb, "__name__", "") == "on_failure" for cb in callbacks), where


def test_each_knob_is_a_param_of_the_dag_that_uses_it(dags) -> None:
    assert set(dags[INGEST].params) == {
        "users",
        "tracks",
        "days",
        "seed",
        "synthetic",
        "exports_path",
        "kaggle_csv",
        "quality_row_bounds",
    }
    assert set(dags[TRANSFORM].params) == {"full_refresh", "quality_row_bounds"}
    assert set(dags[RECOMMEND].params) == {
        "validation_days",
        "max_model_age_days",
        "drift_threshold",
        "force_train",
        "list_model",
        "score_shards",
    }


@pytest.mark.parametrize("dag_id", PIPELINE)
def test_dag_parses_without_heavy_imports(dag_id: str) -> None:
    """Parsing must stay cheap: no great_expectations, lightgbm or dbt run at import time."""
    code = (
        "import sys, runpy; sys.path.insert(0, sys.argv[2]); runpy.run_path(sys.argv[1]); "
        "heavy = [m for m in ('great_expectations', 'lightgbm', 'sklearn', 'faker') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(DAGS / f"{dag_id}.py"), str(DAGS)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
