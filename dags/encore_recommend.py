"""Encore recommend: marts -> (retrain when due) -> sharded scoring -> atomic publish.

Runs nightly at 03:00 UTC, and also as soon as `encore_transform` updates the asset
`encore://warehouse/marts` (whichever comes first; one run at a time).

- `decide_training` lets `train_model` run only when the retrain policy says it is due
  (docs/operations.md, "The retrain policy"); else the latest succeeded model scores and
  publishes.
- `plan_score_shards` picks the model version and splits the candidates' users into
  `score_shards` (4) shards by a hash of user_id; `score_shard` is mapped over them. Each
  shard replaces only its own users' rows of that version in `ml.scores`, so a failed shard
  is rerun alone by clearing it.
- `train_model` fits the repeat model and, with `list_model`, the list model from each
  listener's past cut-offs; the ranking that publishes (the list model or a recency rule) is
  chosen on cut-offs 2-3 and backtested at cut-off 1 (docs/model.md).
- `publish_recommendations` publishes each user's top 20 as of their own clock as a new
  serving partition in one step (counting anyone left out), then updates the asset
  `encore://serving/recommendations`.

Each task is a thin call into `ml/`, which runs without Airflow too
(`python -m ml train|score|publish`).
"""

from __future__ import annotations

import logging

from airflow.sdk import (
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)
from encore_common import DAG_KWARGS, MARTS, RECOMMENDATIONS, documented

log = logging.getLogger(__name__)

NIGHTLY = CronTriggerTimetable("0 3 * * *", timezone="UTC")


@dag(
    dag_id="encore_recommend",
    schedule=AssetOrTimeSchedule(timetable=NIGHTLY, assets=MARTS),
    doc_md=__doc__,
    **DAG_KWARGS,
    params={
        "validation_days": Param(
            30,
            type="integer",
            minimum=1,
            description="each user's last N days of labelled first plays "
            "validate (DESIGN.md uses 90 for long histories)",
        ),
        "max_model_age_days": Param(
            7, type="number", minimum=0, description="retrain when the latest model is older"
        ),
        "drift_threshold": Param(
            0.2,
            type="number",
            minimum=0,
            description="retrain when a key feature's PSI against the "
            "model's first candidates exceeds this",
        ),
        "force_train": Param(
            False, type="boolean", description="train whatever the retrain policy says"
        ),
        "list_model": Param(
            True,
            type="boolean",
            description="fit the list model from the listeners' past cut-offs, "
            "choose the ranking the lists are published with and "
            "backtest it (docs/model.md); off: the repeat model "
            "ranks",
        ),
        "score_shards": Param(
            4,
            type="integer",
            minimum=1,
            maximum=64,
            description="parallel scoring tasks (users split by a hash of user_id)",
        ),
    },
)
def encore_recommend() -> None:
    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def decide_training(params: dict | None = None) -> bool:
        """Whether `train_model` runs tonight (the retrain policy, docs/operations.md),
        recorded in ml.policy_decisions with this run's id."""
        from ml.policy import should_train
        from warehouse import connections
        from warehouse.paths import artifacts_dir

        assert params is not None
        context = get_current_context()
        with connections.connect() as conn:
            decision = should_train(
                conn,
                max_age_days=params["max_model_age_days"],
                drift_threshold=params["drift_threshold"],
                force=params["force_train"],
                dag_run_id=context["ti"].run_id,
                artifacts_dir=artifacts_dir(),
            )
        log.info("%s: %s", "train" if decision.train else "skip training", decision.reason)
        return decision.train

    @task
    def train_model(params: dict | None = None) -> str:
        """Train the repeat model on the labelled first plays and, with `list_model`, the list
        model, the ranking choice and its backtest (ml/list_model.py, ml/rankers.py,
        ml/backtest.py); record metrics in ml.model_runs."""
        from ml.train import train
        from warehouse import connections
        from warehouse.paths import artifacts_dir

        assert params is not None
        with connections.connect() as conn:
            run = train(
                conn,
                artifacts_dir=artifacts_dir(),
                validation_days=params["validation_days"],
                list_model=params["list_model"],
            )
        return run.model_version

    # none_failed: runs after train_model, or when the policy skipped it (then the model
    # version is None and the latest succeeded model scores).
    @task(trigger_rule="none_failed")
    def plan_score_shards(
        model_version: str | None, params: dict | None = None
    ) -> list[dict[str, str | int]]:
        """The model that scores tonight (the one just trained, else the latest succeeded)
        and one work item per shard: `score_shards` of them, users split by a hash of
        user_id. Resolving the version once keeps every shard on the same model."""
        from ml.runs import latest_version
        from warehouse import connections

        assert params is not None
        if model_version is None:
            with connections.connect() as conn, conn.transaction():
                model_version = latest_version(conn)
            log.info("training skipped: scoring with the latest model %s", model_version)
        shards = int(params["score_shards"])
        return [
            {"model_version": model_version, "shard": shard, "shards": shards}
            for shard in range(shards)
        ]

    @task(map_index_template="{{ shard_label }}")
    def score_shard(shard: dict[str, str | int]) -> dict[str, str | int]:
        """Score one shard's users' candidates into ml.scores (replacing only that shard's
        rows of the version, so rerunning it is safe), with reasons for each user's top 20."""
        from ml.score import score
        from warehouse import connections
        from warehouse.paths import artifacts_dir

        context = get_current_context()  # the map index's label in the UI: "shard 1 of 4"
        # Airflow's documented way to feed map_index_template; its Context TypedDict lists
        # only its own keys.
        context["shard_label"] = f"shard {shard['shard']} of {shard['shards']}"  # type: ignore[typeddict-unknown-key]
        with connections.connect() as conn:
            rows = score(
                conn,
                model_version=str(shard["model_version"]),
                artifacts_dir=artifacts_dir(),
                shard=int(shard["shard"]),
                shards=int(shard["shards"]),
            )
        return {**shard, "scored": rows}

    @task(outlets=[RECOMMENDATIONS], trigger_rule="none_failed")
    def publish_recommendations(scored: list[dict[str, str | int]]) -> int:
        """Publish the top 20 per user of the model just scored as the current serving set.
        It waits for every shard: one failed shard stops it, and clients keep the previous
        publish until the shard is cleared and succeeds."""
        from ml.publish import publish
        from warehouse import connections

        scored = list(scored)  # a lazy sequence of the mapped tasks' results
        versions = {str(part["model_version"]) for part in scored}
        if len(versions) != 1:
            raise ValueError(f"shards scored different model versions: {sorted(versions)}")
        log.info(
            "publishing %s: %d rows scored in %d shards",
            *versions,
            sum(int(part["scored"]) for part in scored),
            len(scored),
        )
        with connections.connect() as conn:
            return publish(conn, model_version=versions.pop())

    model_version = train_model()
    decide_training() >> model_version
    # A task called with another's output (an XComArg, resolved when it runs): Airflow types
    # the call with the function's own parameters (apache/airflow#39514).
    scored = score_shard.expand(shard=plan_score_shards(model_version))  # type: ignore[arg-type]
    publish_recommendations(documented(scored, score_shard))


encore_recommend()
