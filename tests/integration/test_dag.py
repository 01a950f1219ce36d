"""The Airflow DAG: it imports cleanly, has the expected shape, and runs for real."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from warehouse.connections import dbt_env
from warehouse.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

DAG_ID = "encore_pipeline"
PIPELINE_STEPS = ["prepare_warehouse", "generate_synthetic_listeners", "load_raw",
                  "land_files", "load_files", "lastfm_users", "extract_lastfm_user",
                  "load_lastfm", "extract_spotify", "load_spotify", "check_raw_loads",
                  "check_marts", "decide_training", "train_model", "score_candidates",
                  "publish_recommendations"]
CHECKPOINT_TASKS = {"check_raw_loads": "raw", "check_marts": "marts"}
LOADS = ["load_raw", "load_files", "load_lastfm", "load_spotify"]


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags[DAG_ID]  # get_dag() would consult the metadata DB; parsing needs none


def test_dag_has_the_pipeline_tasks_in_order(dag) -> None:
    task_ids = set(dag.task_ids)
    assert set(PIPELINE_STEPS) <= task_ids
    dbt_tasks = {task_id for task_id in task_ids if task_id.startswith("transform.")}
    assert any("fct_first_plays" in task_id for task_id in dbt_tasks)
    assert any("fct_candidate_features" in task_id for task_id in dbt_tasks)

    def downstream(task_id: str) -> set[str]:
        return dag.get_task(task_id).get_flat_relative_ids(upstream=False)

    assert "load_raw" in downstream("generate_synthetic_listeners")
    assert {"generate_synthetic_listeners", "land_files", "lastfm_users"} <= downstream(
        "prepare_warehouse")
    # Spotify looks up what the other play sources loaded, so it runs after them.
    assert "extract_spotify" in downstream("load_files") & downstream("load_lastfm")
    assert dag.get_task("extract_lastfm_user").max_active_tis_per_dagrun == 1
    for load in LOADS:
        assert dbt_tasks <= downstream(load), load
        # The raw checkpoint sees every load before dbt reads raw.*.
        assert "check_raw_loads" in downstream(load), load
    assert dbt_tasks <= downstream("check_raw_loads")
    assert all("train_model" in downstream(task_id) for task_id in dbt_tasks)
    # The marts checkpoint runs after every dbt task and before the model reads the marts.
    assert all("check_marts" in downstream(task_id) for task_id in dbt_tasks)
    assert "train_model" in downstream("check_marts")
    # The retrain policy reads the checked marts and gates training only.
    assert "decide_training" in downstream("check_marts")
    assert dag.get_task("decide_training").downstream_task_ids == {"train_model"}
    assert dag.get_task("decide_training").ignore_downstream_trigger_rules is False
    for task_id in ("score_candidates", "publish_recommendations"):
        assert dag.get_task(task_id).trigger_rule == "none_failed", task_id
    assert downstream("train_model") >= {"score_candidates", "publish_recommendations"}
    assert "publish_recommendations" in downstream("score_candidates")


def test_dag_parses_without_heavy_imports() -> None:
    """Parsing must stay cheap: no great_expectations, lightgbm or dbt run at import time."""
    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]); "
        "heavy = [m for m in ('great_expectations', 'lightgbm', 'sklearn', 'faker') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run(["python", "-c", code, str(PROJECT_ROOT / "dags" / f"{DAG_ID}.py")],
                            capture_output=True, text=True, env=os.environ)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


@pytest.fixture(scope="module")
def pipeline_run(module_warehouse_url: str, airflow_home: Path) -> str:
    """One real `airflow dags test` run of the whole pipeline on a small synthetic world."""
    warehouse_url = module_warehouse_url
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_URL", warehouse_url)
        env = {**os.environ, **dbt_env()}
    _dags_test(env)
    return warehouse_url


CONF = '{"users": 150, "tracks": 1500, "days": 120, "seed": 11}'


def _dags_test(env: dict[str, str], conf: str = CONF) -> str:
    result = subprocess.run(
        ["airflow", "dags", "test", DAG_ID, "2026-06-01", "--conf", conf],
        capture_output=True, text=True, env=env, timeout=1500,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    assert "failed" not in _final_states(log), log[-6000:]
    return log


def _final_states(log: str) -> str:
    return " ".join(line for line in log.splitlines() if "Marking run" in line)


def test_full_run_publishes_the_serving_contract(pipeline_run: str) -> None:
    with psycopg.connect(pipeline_run) as conn:
        active = conn.execute("select count(distinct user_id) from marts.fct_candidate_features"
                              ).fetchone()[0]
        per_user = conn.execute(
            "select user_id, count(*), min(rank), max(rank), count(distinct rank), "
            "count(distinct track_key), min(score), max(score), count(distinct model_version) "
            "from serving.recommendations group by user_id").fetchall()
        view_rows = conn.execute("select count(*) from serving.user_recommendations "
                                 "where track_name is not null").fetchone()[0]
        runs = conn.execute("select status, auc, baseline_auc from ml.model_runs").fetchall()
    assert active > 0 and len(per_user) == active
    for _user, rows, lo, hi, ranks, tracks, min_score, max_score, versions in per_user:
        assert (rows, lo, hi, ranks, tracks, versions) == (20, 1, 20, 20, 20, 1)
        assert 0.0 <= min_score <= max_score <= 1.0
    assert view_rows == 20 * active
    assert [status for status, _, _ in runs] == ["succeeded"]


def test_both_checkpoints_ran_passed_and_were_stored(pipeline_run: str) -> None:
    with psycopg.connect(pipeline_run) as conn:
        runs = conn.execute(
            "select checkpoint, success, dag_id, dag_run_id, task_id, evaluated, failed,"
            " extract(epoch from finished_at - started_at)"
            " from quality.checkpoint_runs order by started_at").fetchall()
        stored = conn.execute("select count(*) from quality.expectation_results").fetchone()[0]
    assert [(checkpoint, success, dag_id, task_id, failed)
            for checkpoint, success, dag_id, _, task_id, _, failed, _ in runs] == [
        ("raw", True, DAG_ID, "check_raw_loads", 0), ("marts", True, DAG_ID, "check_marts", 0)]
    assert stored == sum(evaluated for *_, evaluated, _, _ in runs) > 0
    for checkpoint, *_, seconds in runs:
        print(f"checkpoint {checkpoint}: {float(seconds):.2f} s of validation")

    # Airflow's own record: both checkpoint tasks succeeded in that DAG run.
    dag_run_id = runs[0][3]
    assert dag_run_id and {run[3] for run in runs} == {dag_run_id}
    result = subprocess.run(
        ["airflow", "tasks", "states-for-dag-run", DAG_ID, dag_run_id, "-o", "json"],
        capture_output=True, text=True, env=os.environ, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    states = {row["task_id"]: row["state"] for row in _json_rows(result.stdout)}
    assert {task: states.get(task) for task in CHECKPOINT_TASKS} == {
        task: "success" for task in CHECKPOINT_TASKS}


def _json_rows(stdout: str) -> list[dict]:
    """The JSON array an `airflow ... -o json` command printed (log lines may surround it)."""
    decoder = json.JSONDecoder()
    for index, char in enumerate(stdout):
        if char != "[":
            continue
        try:
            rows, _ = decoder.raw_decode(stdout, index)
        except json.JSONDecodeError:
            continue
        if isinstance(rows, list) and rows and all(isinstance(row, dict) for row in rows):
            return rows
    raise AssertionError(f"no JSON rows in: {stdout[-2000:]}")


def test_a_failed_checkpoint_fails_its_task_with_a_readable_summary(pipeline_run: str) -> None:
    """A censored pair labelled 1 in a mart: `check_marts` fails, its log shows the rule.
    (Keys can't be planted duplicates: the mart contracts enforce primary keys.)"""
    plant = ("update marts.fct_first_plays set repeat_30d = 1 where ctid = (select ctid"
             " from marts.fct_first_plays where is_censored limit 1)")
    restore = "update marts.fct_first_plays set repeat_30d = null where is_censored"
    with psycopg.connect(pipeline_run, autocommit=True) as conn:
        assert conn.execute(plant).rowcount == 1
        try:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("WAREHOUSE_URL", pipeline_run)
                env = {**os.environ, **dbt_env()}
            result = subprocess.run(
                ["airflow", "tasks", "test", DAG_ID, "check_marts", "2026-06-01"],
                capture_output=True, text=True, env=env, timeout=600,
            )
        finally:
            conn.execute(restore)
        failed = conn.execute("select count(*) from quality.checkpoint_runs"
                              " where checkpoint = 'marts' and not success").fetchone()[0]
    log = result.stdout + result.stderr
    # `airflow tasks test` exits 0 either way: the task's verdict is in its log.
    assert "AirflowFailException" in log and "new_state=failed" in log, log[-4000:]
    assert "marts.fct_first_plays" in log and "repeat_30d NULL iff is_censored" in log, log[-4000:]
    assert "quality.expectation_results where run_id" in log
    assert failed == 1


def test_a_second_run_with_a_fresh_model_skips_training_but_publishes(pipeline_run: str) -> None:
    """The nightly policy: the same data again, the model minutes old and no drift, so
    `train_model` is skipped while scoring and publishing run with the existing model.
    (Last in this module: it re-runs the DAG for the same logical date.)"""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_URL", pipeline_run)
        env = {**os.environ, **dbt_env()}
    log = _dags_test(env)
    with psycopg.connect(pipeline_run) as conn:
        runs = conn.execute("select model_version from ml.model_runs").fetchall()
        decisions = conn.execute(
            "select action, reason, model_version, details->>'max_psi', dag_run_id"
            " from ml.policy_decisions order by decision_id").fetchall()
        publishes = conn.execute("select model_version, is_current from serving.publishes"
                                 " order by publish_id").fetchall()
        reasons = conn.execute("select count(*), count(*) filter (where reason <> ''),"
                               " count(distinct reason) from serving.recommendations").fetchone()
        dag_run_id = decisions[-1][4]
    assert len(runs) == 1, runs
    (version,) = runs[0]
    assert [action for action, *_ in decisions] == ["train", "skip"], decisions
    assert decisions[0][1] == "no succeeded model yet"
    assert decisions[1][2] == version and float(decisions[1][3]) <= 0.2, decisions
    assert publishes == [(version, False), (version, True)]
    assert reasons[0] > 0 and reasons[1] == reasons[0] and reasons[2] > 1, reasons
    result = subprocess.run(
        ["airflow", "tasks", "states-for-dag-run", DAG_ID, dag_run_id, "-o", "json"],
        capture_output=True, text=True, env=os.environ, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    states = {row["task_id"]: row["state"] for row in _json_rows(result.stdout)}
    assert states["decide_training"] == "success", states
    assert states["train_model"] == "skipped", states
    assert states["score_candidates"] == states["publish_recommendations"] == "success", states
    assert "skip training" in log or "skipped" in log
