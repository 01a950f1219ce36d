"""Encore, end to end: synthetic listeners -> raw -> dbt marts -> LightGBM -> serving.

Each task is a thin call into `warehouse/`, `extract/` or `ml/`, which all run without
Airflow too. Heavy imports happen inside the tasks, so parsing this file stays cheap.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from airflow.sdk import Asset, Param, dag, get_current_context, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"
RECOMMENDATIONS = Asset("encore://serving/recommendations")


def _run_date() -> dt.date:
    """The day a run is for: its logical date, or when it was triggered (manual runs)."""
    context = get_current_context()
    when = context.get("logical_date") or context["dag_run"].run_after
    return when.date()


@dag(
    dag_id="encore_pipeline",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["encore"],
    doc_md=__doc__,
    params={
        "users": Param(2000, type="integer", minimum=1, description="synthetic listeners"),
        "tracks": Param(10000, type="integer", minimum=10, description="catalogue size"),
        "days": Param(120, type="integer", minimum=1, description="days of history"),
        "seed": Param(42, type="integer", description="generator seed (same seed, same data)"),
    },
    default_args={"retries": 1, "retry_delay": dt.timedelta(seconds=30)},
)
def encore_pipeline() -> None:
    @task
    def prepare_warehouse() -> None:
        """Start the embedded warehouse if it is the one in use, and create raw/ml/serving."""
        from warehouse import connections
        from warehouse.bootstrap import bootstrap

        connections.ensure_warehouse()
        with connections.connect() as conn:
            bootstrap(conn)

    @task
    def generate_synthetic_listeners(params: dict | None = None) -> str:
        """Generate the synthetic world for the run's date into the landing zone (Parquet)."""
        from extract.synthetic import SyntheticConfig
        from extract.synthetic_load import land_world

        assert params is not None
        config = SyntheticConfig(seed=params["seed"], n_users=params["users"],
                                 n_tracks=params["tracks"], days=params["days"],
                                 end_date=_run_date())
        return land_world(config)

    @task
    def load_raw(landed: str) -> dict[str, int]:
        """COPY the landed world into raw.synthetic_*, replacing the previous world."""
        from extract.synthetic_load import load_landed_world
        from warehouse import connections

        with connections.connect() as conn:
            return load_landed_world(conn, landed, logical_date=_run_date())

    transform = DbtTaskGroup(
        group_id="transform",
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT,
            manifest_path=DBT_PROJECT / "target" / "manifest.json",
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name="encore",
            target_name=os.environ.get("DBT_TARGET", "postgres"),
            profiles_yml_filepath=DBT_PROJECT / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.DBT_RUNNER
        ),
        # One `dbt build` per model (model + its tests + unit tests); tests that span
        # several models (relationships, point-in-time checks) get a task of their own once
        # all their parents are built.
        render_config=RenderConfig(
            load_method=LoadMode.AUTOMATIC, test_behavior=TestBehavior.BUILD,
            should_detach_multiple_parents_tests=True, emit_datasets=False,
        ),
        operator_args={"install_deps": False},
    )

    @task
    def train_model() -> str:
        """Train LightGBM on the labelled first plays; record metrics in ml.model_runs."""
        from ml.train import train
        from warehouse import connections
        from warehouse.paths import artifacts_dir

        with connections.connect() as conn:
            run = train(conn, artifacts_dir=artifacts_dir())
        return run.model_version

    @task
    def score_candidates(model_version: str) -> int:
        """Score every candidate (user, track) pair with the new model into ml.scores."""
        from ml.score import score
        from warehouse import connections
        from warehouse.paths import artifacts_dir

        with connections.connect() as conn:
            return score(conn, model_version=model_version, artifacts_dir=artifacts_dir())

    @task(outlets=[RECOMMENDATIONS])
    def publish_recommendations(model_version: str, scored: int) -> int:
        """Atomically replace serving.recommendations with the top 20 per user."""
        from ml.publish import publish
        from warehouse import connections

        with connections.connect() as conn:
            return publish(conn, model_version=model_version)

    loaded = load_raw(generate_synthetic_listeners())
    prepare_warehouse() >> loaded >> transform
    model_version = train_model()
    transform >> model_version
    publish_recommendations(model_version, score_candidates(model_version))


encore_pipeline()
