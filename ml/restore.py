"""Restoring an earlier model (`python -m ml restore VERSION`; docs/operations.md, "Restoring
an earlier model")."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ml.artifacts import load_model
from ml.policy import ROLLED_BACK, record_decision
from ml.publish import DEFAULT_TOP_N, publish, rollback
from ml.runs import SUCCEEDED
from ml.score import score

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Restored:
    model_version: str
    how: str  # "rollback" (its publish was kept) or "rescored"
    publish_id: int
    rows: int
    retired: list[str]


def restore(
    conn: psycopg.Connection,
    model_version: str,
    *,
    artifacts_dir: Path,
    top_n: int | None = None,
    keep: int | None = None,
    dag_run_id: str | None = None,
) -> Restored:
    """Make `model_version` (a succeeded run) the current model again.

    Newer succeeded runs get status `rolled_back` (their rows and metrics stay), so later
    scoring and the policy use the restored model. If a publish of it is still kept, it is
    made current by `ml.publish.rollback` (instant); otherwise the candidates are scored
    with it and published. Recorded in ml.policy_decisions (action `restore`).
    """
    with conn.transaction():
        row = conn.execute(
            "select trained_at, status from ml.model_runs where model_version = %s", [model_version]
        ).fetchone()
    if row is None:
        raise LookupError(f"no model run {model_version!r} in ml.model_runs")
    trained_at, status = row
    if status not in (SUCCEEDED, ROLLED_BACK):
        raise ValueError(
            f"model {model_version} has status {status!r}: only a succeeded run can be restored"
        )
    load_model(artifacts_dir, model_version)  # fails now if its folder is gone or stale
    with conn.transaction():
        conn.execute(
            "update ml.model_runs set status = %s where model_version = %s",
            [SUCCEEDED, model_version],
        )
        retired = [
            v
            for (v,) in conn.execute(
                "update ml.model_runs set status = %s where status = %s and "
                "(trained_at, model_version) > (%s, %s) returning model_version",
                [ROLLED_BACK, SUCCEEDED, trained_at, model_version],
            ).fetchall()
        ]
    row = conn.execute(
        "select max(publish_id) from serving.publishes where dropped_at is null "
        "and model_version = %s",
        [model_version],
    ).fetchone()
    assert row is not None  # an aggregate without group by returns one row
    kept = row[0]
    conn.commit()
    if kept is not None:
        current = rollback(conn, to=int(kept))
        result = Restored(model_version, "rollback", current.publish_id, current.rows, retired)
    else:
        score(
            conn,
            model_version=model_version,
            artifacts_dir=artifacts_dir,
            top_n=top_n or DEFAULT_TOP_N,
        )
        rows = publish(conn, model_version=model_version, top_n=top_n or DEFAULT_TOP_N, keep=keep)
        current_row = conn.execute(
            "select publish_id from serving.publishes where is_current"
        ).fetchone()
        assert current_row is not None  # publish() just made one current
        (publish_id,) = current_row
        conn.commit()
        result = Restored(model_version, "rescored", publish_id, rows, retired)
    record_decision(
        conn,
        "restore",
        f"restored {model_version} ({result.how}, publish {result.publish_id})",
        model_version=model_version,
        dag_run_id=dag_run_id,
        details={
            "how": result.how,
            "publish_id": result.publish_id,
            "rows": result.rows,
            "rolled_back_runs": retired,
        },
    )
    log.info(
        "restored %s: %s, publish %d; runs set aside: %s",
        model_version,
        result.how,
        result.publish_id,
        retired or "none",
    )
    return result
