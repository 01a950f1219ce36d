"""The three DAGs with the Snowflake target selected, run for real with `airflow dags test`
against a local fakesnow server: the world lands in Snowflake's RAW through a stage, cosmos
builds the marts there with dbt-snowflake, both checkpoints read Snowflake, and the nightly
job trains from Arrow reads, scores into ML.SCORES and publishes into Snowflake's serving
layout; a second nightly run publishes again (training skipped) and a rollback restores the
first. The control plane (Airflow's metadata, the model registry, quality results) is the
test's PostgreSQL. fakesnow cannot run GRANT: the reader's grants are checked as text in
test_snowflake_seam.py and verified on paper only (README, "Running on Snowflake")."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from config import subprocess_env
from tests.support.airflow_cli import INGEST, RECOMMEND, TRANSFORM, dags_test
from tests.support.fakesnow_server import running_fakesnow, snowflake_env
from warehouse import snowflake_serving
from warehouse.connections import dbt_env

FAKESNOW_NOISE = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result")
pytestmark = [FAKESNOW_NOISE, pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2400)]
connector = pytest.importorskip("snowflake.connector")

DATABASE = "ENCORE_DAGS"  # fakesnow servers in one process share databases
WORLD = {"users": 40, "tracks": 300, "days": 150, "seed": 7}


@pytest.fixture(scope="module")
def chain(module_warehouse_url: str, airflow_home):
    """The three DAGs run once on the Snowflake target, then the nightly DAG again; yields
    (a connection to the fakesnow database, the control URL, the run environment)."""
    with running_fakesnow() as server:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("WAREHOUSE_URL", module_warehouse_url)
            for key, value in snowflake_env(server, DATABASE).items():
                patch.setenv(key, value)
            # dbt unit tests cannot run on fakesnow (test_snowflake_fakesnow.py says why);
            # the PostgreSQL chain runs them
            patch.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "unit_test")
            env = subprocess_env(dbt_env())
        dags_test(env, INGEST, WORLD)
        dags_test(env, TRANSFORM, {})
        dags_test(env, RECOMMEND, {})
        conn = connector.connect(**server, database=DATABASE)
        try:
            yield conn, module_warehouse_url, env
        finally:
            conn.close()


def _rows(conn, query: str, params: tuple = ()) -> list[tuple]:
    cursor = conn.cursor()
    cursor.execute(query, params)
    return cursor.fetchall()


def test_the_world_is_loaded_into_snowflake_and_nothing_into_postgres(chain) -> None:
    conn, control_url, _ = chain
    ((plays,),) = _rows(conn, "select count(*) from RAW.SYNTHETIC_PLAYS")
    ((users,),) = _rows(conn, "select count(*) from RAW.SYNTHETIC_USERS")
    assert plays > 1000 and users == WORLD["users"]
    with psycopg.connect(control_url) as control:
        assert control.execute("select count(*) from raw.synthetic_plays").fetchone() == (0,)
        checkpoints = control.execute(
            "select checkpoint, bool_and(success) from quality.checkpoint_runs group by 1"
        ).fetchall()
    assert sorted(checkpoints) == [("marts", True), ("raw", True)]


def test_marts_and_a_model_are_built_from_snowflake(chain) -> None:
    conn, control_url, _ = chain
    ((plays,),) = _rows(conn, "select count(*) from MARTS.FCT_PLAYS")
    ((labels,),) = _rows(conn, "select count(*) from MARTS.FCT_FIRST_PLAYS")
    assert plays > 1000 and labels > 0
    with psycopg.connect(control_url) as control:
        runs = control.execute("select status, auc from ml.model_runs").fetchall()
    assert [status for status, _ in runs] == ["succeeded"] and runs[0][1] > 0.5


def test_every_active_listener_has_a_list_and_publishes_roll_back(chain) -> None:
    conn, _, env = chain
    ((active,),) = _rows(conn, "select count(distinct user_id) from MARTS.FCT_CANDIDATE_FEATURES")
    ((listed, rows),) = _rows(
        conn, "select count(distinct user_id), count(*) from SERVING.RECOMMENDATIONS"
    )
    assert listed == active > 0 and rows <= 20 * active
    first = snowflake_serving.publishes(conn.cursor(), DATABASE)
    assert [current for _, _, current in first] == [True]

    dags_test(env, RECOMMEND, {}, logical_date="2026-06-02")  # the next night: publish again
    second = snowflake_serving.publishes(conn.cursor(), DATABASE)
    assert [current for _, _, current in second] == [False, True]
    rolled = subprocess.run(
        ["python", "-m", "ml", "rollback"], capture_output=True, text=True, env=env, timeout=600
    )
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    after = snowflake_serving.publishes(conn.cursor(), DATABASE)
    assert [(publish_id, current) for publish_id, _, current in after] == [
        (first[0][0], True),
        (second[1][0], False),
    ]
