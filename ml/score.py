"""Score every candidate in marts.fct_candidate_features with a trained model into ml.scores.

Candidates are streamed through a server-side cursor and written with COPY batch by batch,
so memory stays flat however many there are. A version's old scores are deleted and the new
ones written in one transaction: readers see the previous scores or the complete new set.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from ml.artifacts import LoadedModel, load_model
from ml.db import CANDIDATE_FEATURES, feature_query, iter_frames
from ml.features import to_matrix
from ml.runs import latest_version

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000
_KEYS = {"user_id": pl.String(), "track_key": pl.String(), "candidate_source": pl.String()}
_SCORE_COLUMNS = ("model_version", "user_id", "track_key", "candidate_source", "score", "scored_at")


def score(
    conn: psycopg.Connection,
    *,
    model_version: str | None = None,
    artifacts_dir: Path,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Score all candidates with `model_version` (default: the latest succeeded run) and
    replace that version's rows in ml.scores. Returns the number of rows written."""
    if model_version is None:
        with conn.transaction():
            model_version = latest_version(conn)
    model = load_model(artifacts_dir, model_version)
    query, schema = feature_query(CANDIDATE_FEATURES, _KEYS)
    total = 0
    with conn.transaction():
        # Two scorers of the same version would otherwise interleave deletes and COPYs.
        conn.execute(
            "select pg_advisory_xact_lock(hashtext('encore.score'), hashtext(%s))",
            [model_version],
        )
        scored_at = conn.execute("select now()").fetchone()[0]  # type: ignore[index]
        conn.execute("delete from ml.scores where model_version = %s", [model_version])
        for batch in iter_frames(conn, query, schema, batch_rows):
            _copy_scores(
                conn, _predict(model, batch).with_columns(scored_at=pl.lit(scored_at.isoformat()))
            )
            total += batch.height
    if total == 0:
        log.warning("marts.%s is empty: no scores written", CANDIDATE_FEATURES)
    log.info("scored %d candidates with %s", total, model_version)
    return total


def _predict(model: LoadedModel, batch: pl.DataFrame) -> pl.DataFrame:
    """The batch's keys with the model's probability of a repeat within 30 days."""
    probabilities = model.booster.predict(to_matrix(batch, model.vocabulary))
    return batch.select("user_id", "track_key", "candidate_source").with_columns(
        model_version=pl.lit(model.version),
        score=pl.Series(probabilities, dtype=pl.Float64),
    )


def _copy_scores(conn: psycopg.Connection, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.select(_SCORE_COLUMNS).write_csv(buffer, include_header=False)
    statement = sql.SQL("copy {}.{} ({}) from stdin (format csv)").format(
        sql.Identifier("ml"),
        sql.Identifier("scores"),
        sql.SQL(", ").join(map(sql.Identifier, _SCORE_COLUMNS)),
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buffer.getvalue())
