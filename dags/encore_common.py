"""What the three Encore DAGs share: their assets, run date, default_args, failure callback
and the quality-checkpoint wrapper.

Not a DAG itself. Airflow puts the dags folder on `sys.path`, so the DAG files import it as
`encore_common`; keeping it here (not in a package of the project) means a DAG's parse and
its tasks see the same definitions whether run by the scheduler, `airflow dags test` or a
test's DagBag. Heavy imports stay inside the functions so parsing remains cheap.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk import Asset, get_current_context

# The links between the DAGs: ingest -> RAW -> transform -> MARTS -> recommend -> serving.
RAW = Asset("encore://warehouse/raw")
MARTS = Asset("encore://warehouse/marts")
RECOMMENDATIONS = Asset("encore://serving/recommendations")
START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TAGS = ["encore"]

log = logging.getLogger(__name__)

# What to do after a failure, by task id prefix (first match wins). The callback's summary
# ends with it, so the person on call reads the next step next to the error.
NEXT_STEPS: tuple[tuple[str, str], ...] = (
    (
        "check_",
        "read the table of failed expectations above in this task's log; fix the source"
        " data (or, after a deliberate size change, rerun once with quality_row_bounds"
        " false), then clear this task",
    ),
    (
        "transform.",
        "rerun the model by hand (`cd dbt_project && uv run dbt build -s <model>`);"
        " a mart whose columns changed needs full_refresh=true once; then clear"
        " this task",
    ),
    (
        "extract_",
        "check the source's credentials and reachability (the log names the source);"
        " fix them, then clear this task; the other sources already loaded",
    ),
    (
        "load_",
        "the previous batch of this source is unchanged (loads are one transaction);"
        " fix the landed files or the warehouse, then clear this task",
    ),
    ("land_", "fix or remove the bad input file named above, then clear this task"),
    (
        "train_",
        "the previous model keeps serving; fix the cause (see `python -m ml train`),"
        " then clear this task",
    ),
    ("score_", "rerun this shard alone by clearing it: a shard replaces only its own rows"),
    ("publish_", "clients still read the previous publish; fix the cause, then clear this task"),
)
DEFAULT_NEXT_STEP = "fix the cause shown above, then clear this task to rerun it"


def run_date() -> dt.date:
    """The day a run is for: its logical date, or when it was triggered (manual and
    asset-triggered runs have no logical date)."""
    context = get_current_context()
    when = context.get("logical_date") or context["dag_run"].run_after
    return when.date()


def documented(mapped: Any, decorated: Any) -> Any:
    """`mapped` (the result of `decorated.expand(...)`) with its function's docstring as
    doc_md: Airflow does that for plain TaskFlow tasks but not for mapped ones, and
    `.partial()` refuses doc_md. Returns the mapped task's output, for chaining."""
    mapped.operator.partial_kwargs["doc_md"] = inspect.cleandoc(decorated.function.__doc__ or "")
    return mapped


def next_step(task_id: str) -> str:
    """The advice for a failed task (see NEXT_STEPS): matched on the whole id (dbt tasks live
    in the `transform` group), then on its last part (a source's group prefixes its tasks)."""
    name = task_id.rsplit(".", 1)[-1]
    for prefix, advice in NEXT_STEPS:
        if task_id.startswith(prefix) or name.startswith(prefix):
            return advice
    return DEFAULT_NEXT_STEP


def failure_summary(context: Mapping[str, Any]) -> str:
    """One readable line about a failed task instance: which, which try, why, what next.
    Only ids, the exception and advice: params and connections (which may hold secrets)
    are never part of it."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    map_index = getattr(ti, "map_index", -1)
    shown_task = f"{task_id}[{map_index}]" if map_index is not None and map_index >= 0 else task_id
    run_id = getattr(ti, "run_id", None) or context.get("run_id", "?")
    try_number = getattr(ti, "try_number", "?")
    max_tries = getattr(getattr(ti, "task", None), "retries", None)
    tries = f"{try_number}" if max_tries is None else f"{try_number} of {max_tries + 1}"
    exception = context.get("exception")
    error = f"{type(exception).__name__}: {exception}" if exception else "no exception recorded"
    return (
        f"Encore task failed: dag={dag_id} task={shown_task} run={run_id} try={tries}. "
        f"Error: {error}. Next: {next_step(task_id)}."
    )


def on_failure(context: Mapping[str, Any]) -> None:
    """on_failure_callback: log the summary once, as an error, in the task's log."""
    log.error("%s", failure_summary(context))


def redact_secrets(context: Mapping[str, Any]) -> None:
    """Before each task: API keys, tokens and passwords from the environment never reach the
    task log (observability.logs: Airflow masks its connections and variables, not our env vars)."""
    from observability.logs import install_redaction

    install_redaction()


DEFAULT_ARGS: dict[str, Any] = {
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=30),
    # 30 s, 60 s, ... doubling, capped: transient faults (a busy warehouse, a rate-limited
    # API) get time to clear without a failed night.
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=10),
    "on_failure_callback": on_failure,
    "on_execute_callback": redact_secrets,
}
"""Every task's defaults. Quality checkpoints fail without retries (AirflowFailException):
the data will not improve by waiting."""

DAG_KWARGS: dict[str, Any] = {
    "start_date": START_DATE,
    "catchup": False,
    "max_active_runs": 1,
    "tags": TAGS,
    "default_args": DEFAULT_ARGS,
}
"""What the three DAGs share: one run at a time, no catchup (backfill on request), the
task defaults above."""


def quality_checkpoint(checkpoint: str, params: Mapping[str, Any], **kwargs: Any) -> int:
    """Run a quality checkpoint for the run's date; a failed one fails the task without
    retries (the data will not improve by waiting), its table of failures in the log."""
    from airflow.sdk.exceptions import AirflowFailException

    from quality import QualityCheckFailed, RunContext
    from quality.checkpoints import check_marts, check_raw
    from quality.config import Thresholds
    from warehouse import connections

    context = get_current_context()
    ti = context["ti"]
    run = RunContext(
        dag_id=ti.dag_id, dag_run_id=ti.run_id, task_id=ti.task_id, try_number=ti.try_number
    )
    overrides = {} if params["quality_row_bounds"] else {"row_bounds": False}
    check = check_raw if checkpoint == "raw" else check_marts
    try:
        summary = check(
            connections.warehouse_url(),
            run_date(),
            context=run,
            thresholds=Thresholds.from_env(**overrides),
            **kwargs,
        )
    except QualityCheckFailed as failed:
        log.error("%s", failed)  # the table of failed expectations, readable in the task log
        raise AirflowFailException(
            f"{failed.summary.headline()}: see the table above; "
            "no retries, the data will not change by waiting"
        ) from failed
    return len(summary.outcomes)
