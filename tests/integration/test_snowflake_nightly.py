"""The nightly job with its data in Snowflake: a synthetic world loaded through the seam,
`dbt build --target snowflake`, then the repeat and list models trained from Arrow reads of
the marts, every candidate scored into ML.SCORES, and the lists published into Snowflake's
serving layout, twice, with a rollback, all with DBT_TARGET=snowflake against a local
fakesnow server. The control plane (model registry, policy, backtests) stays in the test's
PostgreSQL, as on a real deployment (README, "Running on Snowflake")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from tests.support.fakesnow_server import dbt_build_snowflake, running_fakesnow, snowflake_env
from warehouse import seam, snowflake, snowflake_serving

FAKESNOW_NOISE = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result")
pytestmark = [FAKESNOW_NOISE, pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
connector = pytest.importorskip("snowflake.connector")

DATABASE = "ENCORE_NIGHTLY"  # fakesnow servers in one process share databases
# What fakesnow cannot run (test_snowflake_fakesnow.py says why); PostgreSQL runs them.
EXCLUDE = ["test_type:unit"]


@pytest.fixture(scope="module")
def nightly(module_warehouse_url: str, tmp_path_factory: pytest.TempPathFactory):
    """fakesnow with the world loaded and the marts built, and the Snowflake target selected
    for the module (DBT_TARGET and SNOWFLAKE_* in the environment)."""
    from extract.synthetic import generate_world
    from extract.synthetic.model import SyntheticConfig
    from extract.synthetic_load import load_world

    with running_fakesnow() as server, pytest.MonkeyPatch.context() as patch:
        for key, value in snowflake_env(server, DATABASE).items():
            patch.setenv(key, value)
        conn = connector.connect(**server, database=DATABASE)
        cursor = conn.cursor()
        for statement in snowflake.ddl_statements(DATABASE):
            cursor.execute(statement)
        world = generate_world(SyntheticConfig(n_users=40, n_tracks=300, days=150))
        loaded = load_world(conn, world, logical_date=dt.date(2026, 1, 1))
        dbt_build_snowflake(server, DATABASE, tmp_path_factory.mktemp("dbt"), exclude=EXCLUDE)
        yield conn, loaded, tmp_path_factory.mktemp("artifacts")
        conn.close()


def _one(conn, query: str, params: tuple = ()):
    """The rows of a query of the connection's database (names from this module)."""
    cursor = conn.cursor()
    cursor.execute(query, params)
    return cursor.fetchall()


def test_the_world_loads_through_the_seam_into_snowflake(nightly, module_warehouse_url) -> None:
    conn, loaded, _ = nightly
    assert loaded["synthetic_plays"] > 1000
    assert _one(conn, "select count(*) from RAW.SYNTHETIC_PLAYS") == [(loaded["synthetic_plays"],)]
    with psycopg.connect(module_warehouse_url) as control:  # nothing landed in PostgreSQL
        assert control.execute("select count(*) from raw.synthetic_plays").fetchone() == (0,)
        assert isinstance(seam.data(control), seam.Snowflake)


def test_train_score_publish_and_roll_back_on_snowflake(nightly, module_warehouse_url) -> None:
    from ml.publish import publish, rollback
    from ml.score import score
    from ml.train import train

    conn, _, artifacts = nightly
    with psycopg.connect(module_warehouse_url) as control:
        run = train(control, artifacts_dir=Path(artifacts), validation_days=30, list_model=True)
        assert run.metrics["auc"] > 0.5
        assert run.metrics["ranking"]["ranker"]
        scored = score(control, artifacts_dir=Path(artifacts), model_version=run.model_version)
        (candidates,) = _one(conn, "select count(*) from MARTS.FCT_CANDIDATE_FEATURES")[0]
        assert scored == candidates > 0
        ((in_snowflake, explained),) = _one(
            conn,
            "select count(*), count(reason) from ML.SCORES where model_version = %s",
            (run.model_version,),
        )
        assert in_snowflake == scored and explained > 0
        ((parsed,),) = _one(  # reason_features arrive as JSON, not as a string
            conn,
            "select count(reason_features[0]:feature::varchar) from ML.SCORES "
            "where model_version = %s",
            (run.model_version,),
        )
        assert 0 < parsed <= explained
        assert control.execute("select count(*) from ml.scores").fetchone() == (0,)

        published = publish(control)
        listeners = _one(conn, "select count(distinct user_id) from MARTS.FCT_CANDIDATE_FEATURES")[
            0
        ][0]
        listed = _one(
            conn,
            "select count(distinct user_id), count(*), min(rank), max(rank) "
            "from SERVING.RECOMMENDATIONS",
        )[0]
        assert listed[0] == listeners  # every active listener has a list
        assert listed[1] == published and (listed[2], listed[3]) == (1, 20)
        ((named,),) = _one(conn, "select count(*) from SERVING.TRACKS")
        assert named > 0
        kept = snowflake_serving.publishes(conn.cursor(), DATABASE)
        assert [current for _, _, current in kept] == [True]
        (coverage,) = _one(conn, "select coverage:listeners_left_out::int from SERVING.PUBLISHES")[
            0
        ]
        assert coverage == 0

        publish(control, top_n=5)
        assert _one(conn, "select max(rank) from SERVING.RECOMMENDATIONS") == [(5,)]
        back = rollback(control)
        assert back.publish_id == kept[0][0]
        assert _one(conn, "select max(rank) from SERVING.RECOMMENDATIONS") == [(20,)]


def test_the_checkpoints_validate_snowflake_frames(nightly, module_warehouse_url) -> None:
    from quality import QualityCheckFailed
    from quality.checkpoints import check_marts, check_raw

    conn, _, _ = nightly
    day = dt.date(2026, 1, 1)
    raw = check_raw(module_warehouse_url, day)
    assert raw.success
    assets = {outcome.asset for outcome in raw.outcomes}
    assert {"raw.synthetic_users", "raw.synthetic_plays"} <= assets
    marts = check_marts(module_warehouse_url, day)
    assert marts.success
    rules = {(o.asset, o.expectation_type) for o in marts.outcomes}
    assert ("marts.fct_first_plays", "unexpected_rows_expectation") in rules  # counted in SQL
    assert len(marts.outcomes) == len(check_marts(module_warehouse_url, day).outcomes)
    with psycopg.connect(module_warehouse_url) as control:  # results kept in PostgreSQL
        ((stored,),) = control.execute(
            "select count(*) from quality.checkpoint_runs where checkpoint = 'marts'"
        ).fetchall()
        assert stored == 2
    # a duplicated listener fails the marts checkpoint, naming the rule
    _one(conn, "insert into MARTS.DIM_USERS select * from MARTS.DIM_USERS limit 1")
    with pytest.raises(QualityCheckFailed) as failed:
        check_marts(module_warehouse_url, day)
    broken = [o for o in failed.value.summary.outcomes if not o.success]
    assert [(o.asset, o.expectation_type, o.column) for o in broken] == [
        ("marts.dim_users", "expect_column_values_to_be_unique", "user_id")
    ]
    assert broken[0].unexpected_count == 2
