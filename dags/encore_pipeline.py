"""Encore, end to end: sources -> raw -> dbt marts -> LightGBM -> serving.

Sources: synthetic listeners (on by default), Last.fm (`LASTFM_API_KEY` + `LASTFM_USERS`,
one mapped task per user), listening-history exports and the Kaggle tracks CSV (params
`exports_path` / `kaggle_csv`, or `ENCORE_EXPORTS_PATH` / `KAGGLE_TRACKS_CSV`), Spotify
metadata and recently-played (`SPOTIFY_CLIENT_ID`/`_SECRET`, `SPOTIFY_REFRESH_TOKEN`). A source
without its keys or files logs one line and loads nothing; the run goes on with the others.

Two great-expectations checkpoints guard the data (`quality/`, docs/data_quality.md):
`check_raw_loads` after every load and before dbt, `check_marts` after dbt and before
training. A failed checkpoint fails its task once (no retries) with a table of the failed
expectations; every result is stored in `quality.checkpoint_runs` / `expectation_results`.

The model retrains only when due (`decide_training`, docs/operations.md): when there is
none, when it is older than `max_model_age_days` (7), when the key features drifted, or with
`force_train`. Otherwise `train_model` is skipped and the latest succeeded model scores and
publishes; every decision is a row of `ml.policy_decisions`.

Each task is a thin call into `warehouse/`, `extract/`, `quality/` or `ml/`, which all run
without Airflow too. Heavy imports happen inside the tasks, so parsing this file stays cheap.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from airflow.sdk import Asset, Param, dag, get_current_context, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"
RECOMMENDATIONS = Asset("encore://serving/recommendations")
log = logging.getLogger(__name__)


def _run_date() -> dt.date:
    """The day a run is for: its logical date, or when it was triggered (manual runs)."""
    context = get_current_context()
    when = context.get("logical_date") or context["dag_run"].run_after
    return when.date()


def _quality_checkpoint(checkpoint: str, params: dict, **kwargs: object) -> int:
    """Run a quality checkpoint for the run's date; a failed one fails the task without
    retries (the data will not improve by waiting), its table of failures in the log."""
    from airflow.sdk.exceptions import AirflowFailException

    from quality import QualityCheckFailed, RunContext
    from quality.checkpoints import check_marts, check_raw
    from quality.config import Thresholds
    from warehouse import connections

    context = get_current_context()
    ti = context["ti"]
    run = RunContext(dag_id=ti.dag_id, dag_run_id=ti.run_id, task_id=ti.task_id,
                     try_number=ti.try_number)
    overrides = {} if params["quality_row_bounds"] else {"row_bounds": False}
    check = check_raw if checkpoint == "raw" else check_marts
    try:
        summary = check(connections.warehouse_url(), _run_date(), context=run,
                        thresholds=Thresholds.from_env(**overrides), **kwargs)
    except QualityCheckFailed as failed:
        log.error("%s", failed)  # the table of failed expectations, readable in the task log
        raise AirflowFailException(f"{failed.summary.headline()}: see the table above; "
                                   "no retries, the data will not change by waiting"
                                   ) from failed
    return len(summary.outcomes)


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
        "synthetic": Param(True, type="boolean", description="generate synthetic listeners"),
        "exports_path": Param("", type="string",
                              description="file, folder or zip of listening-history exports"),
        "kaggle_csv": Param("", type="string", description="Kaggle Spotify tracks CSV"),
        "validation_days": Param(30, type="integer", minimum=1,
                                 description="each user's last N days of labelled first plays "
                                             "validate (DESIGN.md uses 90 for long histories)"),
        "full_refresh": Param(False, type="boolean",
                              description="rebuild the incremental marts from scratch (needed "
                                          "once after their columns change)"),
        "max_model_age_days": Param(7, type="number", minimum=0,
                                    description="retrain when the latest model is older"),
        "drift_threshold": Param(0.2, type="number", minimum=0,
                                 description="retrain when a key feature's PSI against the "
                                             "model's first candidates exceeds this"),
        "force_train": Param(False, type="boolean",
                             description="train whatever the retrain policy says"),
        "quality_row_bounds": Param(True, type="boolean",
                                    description="compare row counts with the previous "
                                                "successful check (turn off once after a "
                                                "deliberate change of data size)"),
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
    def generate_synthetic_listeners(params: dict | None = None) -> str | None:
        """Generate the synthetic world for the run's date into the landing zone (Parquet)."""
        from extract.synthetic import SyntheticConfig
        from extract.synthetic_load import land_world

        assert params is not None
        if not params["synthetic"]:
            log.info("synthetic source skipped: param synthetic is false")
            return None
        config = SyntheticConfig(seed=params["seed"], n_users=params["users"],
                                 n_tracks=params["tracks"], days=params["days"],
                                 end_date=_run_date())
        return land_world(config)

    @task
    def load_raw(landed: str | None) -> dict[str, int]:
        """COPY the landed world into raw.synthetic_*, replacing the previous world."""
        from extract.synthetic_load import load_landed_world
        from warehouse import connections

        if landed is None:
            return {}
        with connections.connect() as conn:
            return load_landed_world(conn, landed, logical_date=_run_date())

    @task
    def land_files(params: dict | None = None) -> dict[str, str]:
        """Parse listening-history exports and the Kaggle CSV into the landing zone."""
        from extract.files import kaggle_configured, land_import, land_kaggle, parse_path

        assert params is not None
        landed: dict[str, str] = {}
        exports = params["exports_path"] or os.environ.get("ENCORE_EXPORTS_PATH", "")
        if exports:
            landed |= land_import(parse_path(Path(exports)), _run_date())
        else:
            log.info("export files skipped: no exports_path param or ENCORE_EXPORTS_PATH")
        if params["kaggle_csv"] or kaggle_configured():
            csv = Path(params["kaggle_csv"]) if params["kaggle_csv"] else None
            landed |= land_kaggle(csv, _run_date())
        else:
            log.info("Kaggle tracks skipped: no kaggle_csv param, KAGGLE_TRACKS_CSV or "
                     "KAGGLE_USERNAME/KAGGLE_KEY")
        return landed

    @task
    def load_files(landed: dict[str, str]) -> dict[str, int]:
        """COPY each landed file source into its raw table (one batch per source)."""
        from extract.files import load_landed
        from warehouse import connections

        with connections.connect() as conn:
            return {source: load_landed(conn, source, folder, logical_date=_run_date())
                    .rows_loaded for source, folder in landed.items()}

    @task
    def lastfm_users() -> list[str]:
        """The Last.fm users to fetch ([] and one log line without LASTFM_API_KEY)."""
        from extract.lastfm import lastfm_users as configured_users

        return configured_users()

    # Last.fm's rate limit is per API key: one user at a time.
    @task(max_active_tis_per_dagrun=1, retries=3, retry_exponential_backoff=True)
    def extract_lastfm_user(user: str) -> str | None:
        """Fetch one user's scrobbles since their watermark into the landing zone."""
        from extract.lastfm import extract_user

        folder = extract_user(user, _run_date())
        return str(folder) if folder else None

    @task(trigger_rule="none_failed")
    def load_lastfm(folders: list[str | None] | None) -> dict[str, int]:
        """Fetch metadata for the new tracks, then COPY all users' scrobbles in one batch."""
        from extract.lastfm import extract_track_info, load_landed
        from warehouse import connections

        landed = [Path(folder) for folder in folders or [] if folder]
        if not landed:
            log.info("Last.fm source skipped: nothing landed")
            return {}
        if info := extract_track_info(_run_date(), landed):
            landed.append(info)
        with connections.connect() as conn:
            return load_landed(conn, landed, _run_date())

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
        # cosmos renders the template and reads "True"/"False" as a boolean
        operator_args={"install_deps": False, "full_refresh": "{{ params.full_refresh }}"},
    )

    @task
    def check_raw_loads(loaded: list[dict[str, int]], params: dict | None = None) -> int:
        """Checkpoint `raw`: every raw table that received a batch for the run's date (and
        every table a load reported) has keys, sane timestamps and a plausible row count."""
        assert params is not None
        reported = {table for counts in loaded for table, rows in (counts or {}).items()
                    if rows}
        return _quality_checkpoint("raw", params, expected_tables=sorted(reported))

    @task
    def check_marts(params: dict | None = None) -> int:
        """Checkpoint `marts`: unique keys, the label's invariants, play times, row counts and
        the share of plays matched to a known track, before the model trains on them."""
        assert params is not None
        return _quality_checkpoint("marts", params)

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def decide_training(params: dict | None = None) -> bool:
        """The retrain policy (ml/policy.py, docs/operations.md): train when forced, when no
        model exists, when the latest one is older than `max_model_age_days` or when the key
        features drifted (PSI > `drift_threshold`); else skip `train_model` only, and
        scoring and publishing use the latest succeeded model. Recorded in
        ml.policy_decisions with this run's id."""
        from ml.policy import should_train
        from warehouse import connections

        assert params is not None
        context = get_current_context()
        with connections.connect() as conn:
            decision = should_train(conn, max_age_days=params["max_model_age_days"],
                                    drift_threshold=params["drift_threshold"],
                                    force=params["force_train"],
                                    dag_run_id=context["ti"].run_id)
        log.info("%s: %s", "train" if decision.train else "skip training", decision.reason)
        return decision.train

    @task
    def train_model(params: dict | None = None) -> str:
        """Train LightGBM on the labelled first plays; record metrics in ml.model_runs."""
        from ml.train import train
        from warehouse import connections
        from warehouse.paths import artifacts_dir

        assert params is not None
        with connections.connect() as conn:
            run = train(conn, artifacts_dir=artifacts_dir(),
                        validation_days=params["validation_days"])
        return run.model_version

    # none_failed: runs after train_model, or when the policy skipped it (then the model
    # version is None and the latest succeeded model scores).
    @task(trigger_rule="none_failed")
    def score_candidates(model_version: str | None) -> dict:
        """Score every candidate (user, track) pair into ml.scores, with reasons for each
        user's top 20; the new model, or the latest succeeded one when training was skipped."""
        from ml.runs import latest_version
        from ml.score import score
        from warehouse import connections
        from warehouse.paths import artifacts_dir

        with connections.connect() as conn:
            if model_version is None:
                with conn.transaction():
                    model_version = latest_version(conn)
                log.info("training skipped: scoring with the latest model %s", model_version)
            rows = score(conn, model_version=model_version, artifacts_dir=artifacts_dir())
        return {"model_version": model_version, "scored": rows}

    @task(outlets=[RECOMMENDATIONS], trigger_rule="none_failed")
    def publish_recommendations(scored: dict) -> int:
        """Publish the top 20 per user of the model just scored as the current serving set."""
        from ml.publish import publish
        from warehouse import connections

        with connections.connect() as conn:
            return publish(conn, model_version=scored["model_version"])

    @task(retries=2, retry_delay=dt.timedelta(minutes=5))
    def extract_spotify() -> str | None:
        """Fetch Spotify metadata for the tracks and artists the plays mention (and the
        recently-played of an authorized user) into the landing zone."""
        from extract.spotify import land_spotify
        from warehouse import connections

        with connections.connect() as conn:
            folder = land_spotify(conn, _run_date())
        return str(folder) if folder else None

    @task
    def load_spotify(folder: str | None) -> dict[str, int]:
        """COPY the landed Spotify answers into raw.spotify_*."""
        from extract.spotify import load_landed_spotify
        from warehouse import connections

        with connections.connect() as conn:
            return load_landed_spotify(conn, folder, logical_date=_run_date())

    synthetic, files, users = generate_synthetic_listeners(), land_files(), lastfm_users()
    prepare_warehouse() >> [synthetic, files, users]
    play_loads = [load_files(files), load_lastfm(extract_lastfm_user.expand(user=users))]
    # Spotify's plan reads the plays the other sources loaded (ids and names to look up).
    spotify_folder = extract_spotify()
    play_loads >> spotify_folder
    raw_checked = check_raw_loads([load_raw(synthetic), *play_loads,
                                   load_spotify(spotify_folder)])
    raw_checked >> transform
    model_version = train_model()
    transform >> check_marts() >> decide_training() >> model_version
    publish_recommendations(score_candidates(model_version))


encore_pipeline()
