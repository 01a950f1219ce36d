"""`make airflow` end to end, used the way a person uses it.

Airflow standalone is started by the same code as `make airflow` (on a free port, with an
Airflow home and pid file of its own, against the module's own test database). Through the
REST API, logged in with the generated admin password (POST /auth/token -> JWT), the
pipeline's DAGs are unpaused and the first one is triggered with a small world; the chain
runs through the scheduler (ingest -> RAW asset -> transform -> MARTS asset -> recommend)
until the last DAG's run succeeds. Then headless Chromium logs in through the UI's login
form and opens the grid view of each DAG: the page must show the DAG id and its tasks, and
a screenshot goes to `.encore/screenshots/`. Teardown stops Airflow by process group and
checks that none of its processes is left.

This is the suite's one run of the whole chain on a synthetic world, so the run's outcome
is checked here too: the serving contract, both checkpoints stored, a failing checkpoint's
readable summary, and a second night that skips training but publishes (the last two with
`airflow dags test` / `airflow tasks test` in the test's own Airflow home, against the
same warehouse, after the chain's DAGs are paused again).

Unpausing a DAG with a time schedule makes the scheduler start the latest missed interval
at once (catchup=False still runs the last one), with the default, full-size params. The
first DAG is triggered for that interval's date, so the scheduler starts none for it; the
other `scheduled` runs (encore_recommend's nightly time) are not what this test is about, so
it marks them failed as they appear.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from config import subprocess_env
from ops import airflow_server
from ops.airflow_api import AirflowApi, AirflowApiError
from ops.services import descendants, free_port, group_members, leftovers, stop_service
from tests.support.airflow_cli import INGEST, RECOMMEND, TRANSFORM, dags_test, run_env
from tests.support.airflow_cli import task_states as cli_task_states
from tests.support.browser import chromium_page, needs_chromium
from warehouse.connections import dbt_env
from warehouse.paths import state_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The DAGs in trigger order: the first is triggered, the last one's run ends the chain.
# With the single-DAG pipeline this is ("encore_pipeline",).
CHAIN = ("encore_ingest", "encore_transform", "encore_recommend")
# The run that ends the chain: the triggered one itself, or the one the scheduler starts
# from the upstream DAG's asset.
WAIT_RUN_TYPE = "manual" if len(CHAIN) == 1 else "asset_triggered"
CONF = {"users": 40, "tracks": 400, "days": 120, "seed": 5, "score_shards": 3}
RUN_TIMEOUT = 1500.0  # seconds; a ceiling on a loaded 2-core box, not a speed assertion
WAIT_MS = 120_000
DONE = {"success", "failed"}


def _poll(check, *, timeout: float, what: str, interval: float = 3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (result := check()) is not None:
            return result
        time.sleep(interval)
    raise AssertionError(f"{what}: nothing after {timeout:.0f} s")


@pytest.fixture(scope="module")
def airflow(
    module_warehouse_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[airflow_server.AirflowServer]:
    """`make airflow`'s code path, on a free port, against the module's test database."""
    scratch = tmp_path_factory.mktemp("airflow_ui")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_URL", module_warehouse_url)
        env = subprocess_env({**dbt_env(), "AIRFLOW_HOME": str(scratch / "home")})
    server = airflow_server.start(port=free_port(), env=env, state=scratch, timeout=900)
    assert not server.reused
    yield server
    seen = descendants(server.pid)
    assert stop_service(airflow_server.service(scratch))
    assert group_members(server.pid) == []
    assert leftovers(server.pid, seen) == []
    assert not airflow_server.service(scratch).pid_file.exists()


@pytest.fixture(scope="module")
def api(airflow: airflow_server.AirflowServer) -> AirflowApi:
    return AirflowApi(airflow.url, airflow.token())


@pytest.fixture(scope="module")
def finished_run(
    airflow: airflow_server.AirflowServer, api: AirflowApi, module_warehouse_url: str
) -> dict:
    """Trigger the chain's first DAG, unpause them all, wait for the last one's run."""
    for dag_id in CHAIN:  # the DAG processor has to have parsed them first
        _poll(lambda dag_id=dag_id: api.has_dag(dag_id) or None, timeout=600, what=f"DAG {dag_id}")
    triggered = api.trigger_next(CHAIN[0], CONF, note="test_airflow_ui")
    for dag_id in reversed(CHAIN):
        assert api.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})["is_paused"] is False

    def chain_done() -> dict | None:
        for dag_id in CHAIN:
            for run in api.runs(dag_id):
                if run["run_type"] == "scheduled" and run["state"] not in DONE:
                    with contextlib.suppress(AirflowApiError):  # best effort: retried next poll
                        api.call(
                            "PATCH", api.run_path(dag_id, run["dag_run_id"]), {"state": "failed"}
                        )
                elif run["run_type"] != "scheduled" and run["state"] == "failed":
                    states = api.task_states(dag_id, run["dag_run_id"])
                    raise AssertionError(f"{dag_id} run {run['dag_run_id']} failed: {states}")
        if len(CHAIN) == 1:
            candidates = [
                run for run in api.runs(CHAIN[0]) if run["dag_run_id"] == triggered["dag_run_id"]
            ]
        else:
            candidates = [run for run in api.runs(CHAIN[-1]) if run["run_type"] == WAIT_RUN_TYPE]
        return next((run for run in candidates if run["state"] == "success"), None)

    try:
        run = _poll(chain_done, timeout=RUN_TIMEOUT, what=f"a successful {CHAIN[-1]} run")
    except AssertionError as error:
        raise AssertionError(
            f"{error}\n--- {airflow.log_file} (tail)\n{_log_tail(airflow)}"
        ) from None
    for dag_id in CHAIN:  # nothing more from the scheduler while the tests below run
        assert api.call("PATCH", f"/dags/{dag_id}", {"is_paused": True})["is_paused"] is True
    with psycopg.connect(module_warehouse_url) as conn:
        published = conn.execute("select count(*) from serving.recommendations").fetchone()[0]
    assert published > 0
    return run


def _log_tail(server: airflow_server.AirflowServer, lines: int = 60) -> str:
    """The end of standalone's log, without the line that prints the admin password."""
    text = server.log_file.read_text(errors="replace").splitlines()
    return "\n".join(line for line in text if "password" not in line.lower())[-lines * 200 :]


def test_pipeline_runs_through_the_scheduler(api: AirflowApi, finished_run: dict) -> None:
    states = api.task_states(CHAIN[-1], finished_run["dag_run_id"])
    assert states
    assert set(states.values()) <= {"success", "skipped"}, states


@pytest.fixture
def page(tmp_path: Path):
    with chromium_page(tmp_path / "chromium-profile") as browser_page:
        browser_page.set_default_timeout(WAIT_MS)
        yield browser_page


@needs_chromium
def test_grid_view_shows_the_dags(
    airflow: airflow_server.AirflowServer, api: AirflowApi, finished_run: dict, page
) -> None:
    page.goto(f"{airflow.url}/dags/{CHAIN[0]}")
    # Not logged in yet: the UI redirects to the login form, sometimes in two hops, and
    # a superseded hop aborts a navigation wait; a locator wait survives navigations.
    page.locator("input[name=username]").wait_for()
    assert "/auth/login" in page.url, page.url
    page.fill("input[name=username]", airflow_server.ADMIN)
    page.fill("input[name=password]", airflow.password())
    page.click("button[type=submit]")
    page.wait_for_url(f"**/dags/{CHAIN[0]}")
    folder = state_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    for dag_id in CHAIN:
        page.goto(f"{airflow.url}/dags/{dag_id}")
        # Grid rows: top-level tasks, and task groups by their group id.
        rows = sorted(
            {
                task["task_id"].split(".")[0]
                for task in api.call("GET", f"/dags/{dag_id}/tasks")["tasks"]
            }
        )
        page.get_by_text(dag_id, exact=True).first.wait_for()
        page.wait_for_load_state("networkidle")
        shot = folder / f"airflow_grid_{dag_id}.png"
        page.screenshot(path=str(shot))  # before the checks: a failure leaves the evidence
        assert shot.stat().st_size > 20_000, "screenshot is blank or tiny"
        for row in rows:  # a mapped task reads "score_shard [4]"
            page.get_by_text(re.compile(rf"^{re.escape(row)}( \[.*\])?$")).first.wait_for()
        assert dag_id in page.inner_text("body")


def test_admin_password_is_not_logged(airflow: airflow_server.AirflowServer) -> None:
    """`make airflow` writes the password file itself, so standalone never echoes it."""
    assert airflow.password() not in airflow.log_file.read_text(errors="replace")


# ------------------------------------------------------------------ the run's outcome


def _run_date(run: dict) -> str:
    """The chain's run date (YYYY-MM-DD), for the runs made by hand after it."""
    return str(run.get("logical_date") or run["run_after"])[:10]


def test_full_run_publishes_the_serving_contract(
    finished_run: dict, module_warehouse_url: str
) -> None:
    with psycopg.connect(module_warehouse_url) as conn:
        active = conn.execute(
            "select count(distinct user_id) from marts.fct_candidate_features"
        ).fetchone()[0]
        per_user = conn.execute(
            "select user_id, count(*), min(rank), max(rank), count(distinct rank), "
            "count(distinct track_key), min(score), max(score), count(distinct model_version) "
            "from serving.recommendations group by user_id"
        ).fetchall()
        view_rows = conn.execute(
            "select count(*) from serving.user_recommendations where track_name is not null"
        ).fetchone()[0]
        runs = conn.execute("select status, auc, baseline_auc from ml.model_runs").fetchall()
        candidates, scored = conn.execute(
            "select (select count(*) from marts.fct_candidate_features),"
            " (select count(*) from ml.scores)"
        ).fetchone()
        profiles = conn.execute("select count(*) from ml.feature_profiles").fetchone()[0]
    assert active > 0 and len(per_user) == active
    for _user, rows, lo, hi, ranks, tracks, min_score, max_score, versions in per_user:
        assert (rows, lo, hi, ranks, tracks, versions) == (20, 1, 20, 20, 20, 1)
        assert 0.0 <= min_score <= max_score <= 1.0
    assert view_rows == 20 * active
    assert [status for status, _, _ in runs] == ["succeeded"]
    # The 3 shards together scored every candidate once; the drift reference exists once.
    assert scored == candidates and profiles == 1


def test_both_checkpoints_ran_passed_and_were_stored(
    api: AirflowApi, finished_run: dict, module_warehouse_url: str
) -> None:
    with psycopg.connect(module_warehouse_url) as conn:
        runs = conn.execute(
            "select checkpoint, success, dag_id, dag_run_id, task_id, evaluated, failed"
            " from quality.checkpoint_runs order by started_at"
        ).fetchall()
        stored = conn.execute("select count(*) from quality.expectation_results").fetchone()[0]
    assert [
        (checkpoint, success, dag_id, task_id, failed)
        for checkpoint, success, dag_id, _, task_id, _, failed in runs
    ] == [("raw", True, INGEST, "check_raw_loads", 0), ("marts", True, TRANSFORM, "check_marts", 0)]
    assert stored == sum(evaluated for *_, evaluated, _ in runs) > 0
    # Airflow's own record: each checkpoint task succeeded in its DAG's run.
    for _, _, dag_id, dag_run_id, task_id, *_ in runs:
        assert api.task_states(dag_id, dag_run_id)[f"{task_id}[-1]"] == "success", dag_id


def test_a_failed_checkpoint_fails_its_task_with_a_readable_summary(
    finished_run: dict, module_warehouse_url: str, airflow_home: Path
) -> None:
    """A censored pair labelled 1 in a mart: `check_marts` fails, its log shows the rule and
    the failure callback's one-line summary with the next step.
    (Keys can't be planted duplicates: the mart contracts enforce primary keys.)"""
    plant = (
        "update marts.fct_first_plays set repeat_30d = 1 where ctid = (select ctid"
        " from marts.fct_first_plays where is_censored limit 1)"
    )
    restore = "update marts.fct_first_plays set repeat_30d = null where is_censored"
    with psycopg.connect(module_warehouse_url, autocommit=True) as conn:
        assert conn.execute(plant).rowcount == 1
        try:
            result = subprocess.run(
                ["airflow", "tasks", "test", TRANSFORM, "check_marts", _run_date(finished_run)],
                capture_output=True,
                text=True,
                env=run_env(module_warehouse_url),
                timeout=600,
            )
        finally:
            conn.execute(restore)
        failed = conn.execute(
            "select count(*) from quality.checkpoint_runs"
            " where checkpoint = 'marts' and not success"
        ).fetchone()[0]
    log = result.stdout + result.stderr
    # `airflow tasks test` exits 0 either way: the task's verdict is in its log.
    assert "AirflowFailException" in log and "new_state=failed" in log, log[-4000:]
    assert "marts.fct_first_plays" in log and "repeat_30d NULL iff is_censored" in log, log[-4000:]
    assert "quality.expectation_results where run_id" in log
    assert f"Encore task failed: dag={TRANSFORM} task=check_marts run=" in log, log[-4000:]
    assert "Next: read the table of failed expectations" in log, log[-4000:]
    assert failed == 1


def test_a_second_night_with_a_fresh_model_skips_training_but_publishes(
    finished_run: dict, module_warehouse_url: str, airflow_home: Path
) -> None:
    """The nightly policy: `encore_recommend` again on the same marts, the model minutes old
    and no drift, so `train_model` is skipped while every shard scores and the publish runs
    with the existing model. (Last in this module: it publishes again.)"""
    log = dags_test(run_env(module_warehouse_url), RECOMMEND, CONF, _run_date(finished_run))
    with psycopg.connect(module_warehouse_url) as conn:
        runs = conn.execute("select model_version from ml.model_runs").fetchall()
        # the chain's run and this one (a `scheduled` run the unpausing started may have
        # decided before the fixture failed it)
        decisions = conn.execute(
            "select action, reason, model_version, details->>'max_psi', dag_run_id"
            " from ml.policy_decisions where dag_run_id not like 'scheduled\\_\\_%'"
            " order by decision_id"
        ).fetchall()
        publishes = conn.execute(
            "select model_version, is_current from serving.publishes order by publish_id"
        ).fetchall()
        reasons = conn.execute(
            "select count(*), count(*) filter (where reason <> ''),"
            " count(distinct reason) from serving.recommendations"
        ).fetchone()
        dag_run_id = decisions[-1][4]
    assert len(runs) == 1, runs
    (version,) = runs[0]
    assert [action for action, *_ in decisions] == ["train", "skip"], decisions
    assert decisions[0][1] == "no succeeded model yet"
    assert decisions[1][2] == version and float(decisions[1][3]) <= 0.2, decisions
    assert publishes == [(version, False), (version, True)]
    assert reasons[0] > 0 and reasons[1] == reasons[0] and reasons[2] > 1, reasons
    states = cli_task_states(RECOMMEND, dag_run_id)
    assert states["decide_training"] == ["success"], states
    assert states["train_model"] == ["skipped"], states
    assert states["plan_score_shards"] == states["publish_recommendations"] == ["success"]
    assert states["score_shard"] == ["success"] * CONF["score_shards"], states
    assert "skip training" in log or "skipped" in log
