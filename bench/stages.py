"""The pipeline's stages as the benchmark runs them, one per process.

`python -m bench.stages <stage> --workdir DIR --scale JSON --result FILE` runs one stage
against the database in `WAREHOUSE_URL` and writes `{"seconds", "rows", "details"}` to
FILE. `seconds` times the stage's own work only: the interpreter's start, imports and the
hand-over files between stages (the generated world is passed to the load as Parquet) are
left out. The parent reads the process's peak RSS when it exits (bench.runner).

Stages: generate, load, dbt, train, score, publish; the two baselines, copy (a bare `COPY`
of the loaded rows) and predict (LightGBM's `Booster.predict` over the scored candidates),
each in a process of its own so they never inflate a stage's memory; and daily, the next
night's run on top of it all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.database import value
from config import set_process_env

if TYPE_CHECKING:
    import psycopg

StageResult = dict[str, Any]

WORLD_DIR = "world"
ARTIFACTS_DIR = "artifacts"
COPY_SCHEMA = "bench_copy"
COPY_CHUNK_ROWS = 200_000  # as warehouse.loader renders its COPY stream


def _connect() -> psycopg.Connection:
    """A connection to the benchmark database (`WAREHOUSE_URL`, set by the parent)."""
    from warehouse.connections import connect

    return connect()


def _checkpoint(conn: psycopg.Connection) -> None:
    """Flush the server's dirty pages before a timed write, so that a checkpoint (every 5
    min or 4 GB of WAL) started by earlier stages does not land inside it: load and its
    bare COPY baseline then start from the same state. Skipped without the right to."""
    granted = conn.execute(
        "select rolsuper or pg_has_role(current_user, 'pg_checkpoint', 'member') "
        "from pg_roles where rolname = current_user"
    ).fetchone()
    if granted and granted[0]:
        conn.execute("checkpoint")
    conn.commit()


def _world_files(workdir: Path) -> dict[str, Path]:
    """The generated world's Parquet files, by raw table name."""
    return {path.stem: path for path in sorted((workdir / WORLD_DIR).glob("*.parquet"))}


def _read_world(workdir: Path) -> dict[str, Any]:
    """The generated world's frames, by raw table name."""
    import polars as pl

    return {name: pl.read_parquet(path) for name, path in _world_files(workdir).items()}


def generate(workdir: Path, scale: dict[str, Any]) -> StageResult:
    """Simulate the synthetic world (extract.synthetic.generate_world)."""
    from extract.synthetic import SyntheticConfig, generate_world
    from extract.synthetic_load import world_frames

    config = SyntheticConfig(
        seed=scale["seed"],
        n_users=scale["users"],
        n_tracks=scale["tracks"],
        days=scale["days"],
        end_date=dt.date.fromisoformat(scale["end_date"]),
    )
    started = time.perf_counter()
    world = generate_world(config)
    seconds = time.perf_counter() - started
    folder = workdir / WORLD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    frames = world_frames(world)
    for name, frame in frames.items():
        frame.write_parquet(folder / f"{name}.parquet")
    return {
        "seconds": seconds,
        "rows": world.plays.height,
        "details": {name: frame.height for name, frame in frames.items()},
    }


def load(workdir: Path, scale: dict[str, Any]) -> StageResult:
    """COPY the world into raw.synthetic_* with the project's loader, one batch per table."""
    from psycopg import sql

    from extract.synthetic_load import load_frames
    from warehouse.raw_tables import RAW_SCHEMA

    frames = _read_world(workdir)
    with _connect() as conn:
        # every run loads into empty tables, as the first one does (bench.PAIR_RUNS)
        for name in frames:
            conn.execute(sql.SQL("truncate {}").format(sql.Identifier(RAW_SCHEMA, name)))
        conn.commit()
        _checkpoint(conn)
        started = time.perf_counter()
        counts = load_frames(conn, frames, logical_date=dt.date.fromisoformat(scale["end_date"]))
        seconds = time.perf_counter() - started
        # a rerun of the same ingest: the world again over itself (the loader empties each
        # snapshot table with TRUNCATE rather than deleting every row)
        _checkpoint(conn)
        started = time.perf_counter()
        load_frames(conn, frames, logical_date=dt.date.fromisoformat(scale["end_date"]))
        reload_seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": sum(counts.values()),
        "details": {**counts, "reload_seconds": reload_seconds},
    }


def copy_baseline(workdir: Path, scale: dict[str, Any]) -> StageResult:
    """Bare COPYs of the same rows, the strongest of which the loader is compared to: the
    loader's columns (batch columns included) encoded beforehand, then COPYed in one
    transaction into plain tables with the same columns and no indexes, without the
    loader's conform, delete or quarantine steps; once in binary (the loader's own format,
    `seconds`) and once as CSV (in the details). Encoding is untimed for both."""
    import polars as pl
    from psycopg import sql

    from warehouse import copy_binary
    from warehouse.loader import batch_constants, conform
    from warehouse.postgres_io import binary_copy_statement, copy_statement, csv_bytes
    from warehouse.raw_tables import RAW_SCHEMA, RAW_TABLES

    frames = _read_world(workdir)
    constants = batch_constants(
        "00000000-0000-0000-0000-000000000000", "bench", dt.date.fromisoformat(scale["end_date"])
    )
    batch = constants.row
    encoded: dict[str, dict[str, tuple[sql.Composed, list[Any]]]] = {"csv": {}, "binary": {}}
    encode_seconds: dict[str, float] = {}
    rows = 0
    for name, frame in frames.items():
        data = conform(frame, RAW_TABLES[name])
        rows += data.height
        columns = [*data.columns, *batch.columns]
        target = sql.Identifier(COPY_SCHEMA, name)
        started = time.perf_counter()
        with_batch = data.with_columns(
            pl.lit(value).alias(column) for column, value in batch.row(0, named=True).items()
        )
        chunks: list[Any] = [
            csv_bytes(with_batch.slice(offset, COPY_CHUNK_ROWS))
            for offset in range(0, data.height, COPY_CHUNK_ROWS)
        ]
        encoded["csv"][name] = (copy_statement(target, columns), chunks)
        encode_seconds["csv"] = encode_seconds.get("csv", 0.0) + time.perf_counter() - started
        started = time.perf_counter()
        types = [pg_type for _, pg_type in RAW_TABLES[name].columns]
        chunks = [
            copy_binary.SIGNATURE,
            *(
                copy_binary.encode_rows(data.slice(offset, COPY_CHUNK_ROWS), types, constants)
                for offset in range(0, data.height, COPY_CHUNK_ROWS)
            ),
            copy_binary.TRAILER,
        ]
        encoded["binary"][name] = (binary_copy_statement(target, columns), chunks)
        encode_seconds["binary"] = encode_seconds.get("binary", 0.0) + time.perf_counter() - started
    copy_seconds = {}
    with _connect() as conn:
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(COPY_SCHEMA)))
        for fmt, statements in encoded.items():
            for name in statements:
                target = sql.Identifier(COPY_SCHEMA, name)
                conn.execute(sql.SQL("drop table if exists {}").format(target))
                conn.execute(
                    sql.SQL("create table {} (like {} including defaults)").format(
                        target, sql.Identifier(RAW_SCHEMA, name)
                    )
                )
            conn.commit()
            _checkpoint(conn)
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cursor:
                for statement, chunks in statements.values():
                    with cursor.copy(statement) as copy:
                        for chunk in chunks:
                            copy.write(chunk)
            copy_seconds[fmt] = time.perf_counter() - started
        for name in frames:
            conn.execute(sql.SQL("drop table {}").format(sql.Identifier(COPY_SCHEMA, name)))
        conn.commit()
    return {
        "seconds": copy_seconds["binary"],
        "rows": rows,
        "details": {
            "csv_copy_seconds": copy_seconds["csv"],
            "csv_render_seconds": encode_seconds["csv"],
            "binary_encode_seconds": encode_seconds["binary"],
        },
    }


def dbt(workdir: Path, scale: dict[str, Any]) -> StageResult:
    """`dbt build` of the seeds and models (no tests), in-process, against this database.

    The project is parsed first, outside the timing, into a target folder of the
    benchmark's own (the project's target/, which Airflow reads, is left alone).
    """
    seconds, nodes = _dbt_build(workdir)
    with _connect() as conn:
        plays = value(conn, "select count(*) from raw.synthetic_plays")
        marts = {
            table: value(conn, f"select count(*) from marts.{table}")  # noqa: S608
            for table in ("fct_plays", "fct_pair_features", "fct_candidate_features")
        }
    return {
        "seconds": seconds,
        "rows": plays,
        "details": {"nodes": len(nodes), "marts": marts, "slowest": _slowest(nodes)},
    }


def _slowest(nodes: list[Any], count: int = 5) -> dict[str, float]:
    """The `count` slowest dbt nodes of a build, with their seconds."""
    ranked = sorted(nodes, key=lambda node: node.execution_time, reverse=True)[:count]
    return {node.node.name: round(node.execution_time, 2) for node in ranked}


def _dbt_build(workdir: Path) -> tuple[float, list[Any]]:
    """Parse (untimed), then `dbt build` the seeds and models; (seconds, node results)."""
    from dbt.artifacts.schemas.run import RunExecutionResult
    from dbt.cli.main import dbtRunner

    from warehouse.connections import dbt_env
    from warehouse.paths import dbt_project_dir

    set_process_env(
        {**dbt_env(), "DBT_TARGET": "postgres", "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    )
    project = dbt_project_dir()
    common = [
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target",
        "postgres",
        "--target-path",
        str(workdir / "dbt_target"),
        "--log-path",
        str(workdir / "dbt_logs"),
    ]
    parsed = dbtRunner().invoke(["parse", "--quiet", *common])
    if not parsed.success:
        raise RuntimeError(f"dbt parse failed: {parsed.exception}")
    started = time.perf_counter()
    result = dbtRunner().invoke(
        ["build", "--resource-type", "model", "--resource-type", "seed", *common]
    )
    seconds = time.perf_counter() - started
    # build's result: its node results (None when it raised)
    outcome = result.result
    nodes = list(outcome) if isinstance(outcome, RunExecutionResult) else []
    failed = [
        f"{node.node.unique_id}: {node.status} {node.message}"
        for node in nodes
        if str(node.status) not in {"success", "pass"}
    ]
    if not result.success or failed:
        raise RuntimeError("dbt build failed:\n" + "\n".join(failed or [str(result.exception)]))
    return seconds, nodes


def train(workdir: Path, scale: dict[str, Any]) -> StageResult:
    """Train as the nightly job does (ml.train.train with the list model: the repeat model,
    the list model, the ranking choice and the backtest), on the labelled pairs and the past
    cut-offs' candidates."""
    from ml.train import train as train_model

    with _connect() as conn:
        started = time.perf_counter()
        run = train_model(conn, artifacts_dir=workdir / ARTIFACTS_DIR, list_model=True)
        seconds = time.perf_counter() - started
    metrics = run.metrics
    return {
        "seconds": seconds,
        "rows": run.train_rows + run.valid_rows,
        "details": {
            "model_version": run.model_version,
            "train_rows": run.train_rows,
            "valid_rows": run.valid_rows,
            "auc": run.auc,
            "baseline_auc": run.baseline_auc,
            "list_model_rows": (metrics.get("list_model") or {}).get("rows"),
            "ranking": (metrics.get("ranking") or {}).get("ranker"),
        },
    }


def score(workdir: Path, scale: dict[str, Any]) -> StageResult:
    """Score every candidate into ml.scores (ml.score.score)."""
    from ml.score import score as score_candidates

    with _connect() as conn:
        started = time.perf_counter()
        rows = score_candidates(conn, artifacts_dir=workdir / ARTIFACTS_DIR)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows, "details": {}}


def predict_baseline(workdir: Path, scale: dict[str, Any]) -> StageResult:
    """LightGBM's own `Booster.predict` of the repeat model over the matrix of the same
    candidate rows that the score stage read (one call, the whole matrix in memory): the
    yardstick of issue 13. `seconds` is that predict alone; reading the rows and building
    the matrices are reported in the details, and so is the predict of the model that ranks
    (the list model, when chosen: scoring predicts with it alone)."""
    import numpy as np
    import polars as pl

    from ml import list_model
    from ml.artifacts import load_model
    from ml.db import CANDIDATE_FEATURES, feature_query, iter_frames
    from ml.features import to_matrix
    from ml.runs import latest_version

    keys = {
        "user_id": pl.String(),
        "track_key": pl.String(),
        "candidate_source": pl.String(),
        "candidate_sources": pl.String(),
    }

    with _connect() as conn:
        with conn.transaction():
            version = latest_version(conn)
        model = load_model(workdir / ARTIFACTS_DIR, version)
        ranker = list_model.load(workdir / ARTIFACTS_DIR / version)
        select = feature_query(CANDIDATE_FEATURES, keys, extra=list_model.HISTORY_FEATURES)
        read_started = time.perf_counter()
        matrices, list_matrices = [], []
        with conn.transaction():
            for batch in iter_frames(conn, select, 50_000):
                matrices.append(to_matrix(batch, model.vocabulary))
                if ranker is not None:
                    list_matrices.append(list_model.matrix(batch))
        read_seconds = time.perf_counter() - read_started
    matrix = np.vstack(matrices) if matrices else np.empty((0, len(model.features)))
    started = time.perf_counter()
    predicted = model.booster.predict(matrix)
    seconds = time.perf_counter() - started
    assert isinstance(predicted, np.ndarray)  # dense input: dense output
    details: dict[str, Any] = {
        "read_and_encode_seconds": read_seconds,
        "trees": model.booster.num_trees(),
    }
    if ranker is not None and list_matrices:
        stacked = np.vstack(list_matrices)
        started = time.perf_counter()
        ranker.booster.predict(stacked)
        details["list_model_predict_seconds"] = time.perf_counter() - started
        details["list_model_trees"] = ranker.booster.num_trees()
        if ranker.native is not None:  # what scoring predicts with (ml.compiled)
            started = time.perf_counter()
            ranker.native.predict(stacked)
            details["list_model_compiled_predict_seconds"] = time.perf_counter() - started
    return {"seconds": seconds, "rows": int(predicted.shape[0]), "details": details}


def publish(workdir: Path, scale: dict[str, Any]) -> StageResult:
    """Publish each user's top 20 as the current serving set (ml.publish.publish)."""
    from ml.publish import publish as publish_top_n

    with _connect() as conn:
        started = time.perf_counter()
        rows = publish_top_n(conn, top_n=20)
        seconds = time.perf_counter() - started
        users = value(conn, "select count(distinct user_id) from serving.recommendations")
    return {"seconds": seconds, "rows": rows, "details": {"users": users}}


def daily(workdir: Path, scale: dict[str, Any]) -> StageResult:
    """A nightly run on top of the built pipeline, one day later, without retraining (the
    policy retrains weekly or on drift): the world's last day of plays again, a day later
    (new plays by the same listeners, the next logical date's batch), then dbt build
    (incremental models add the day; tables rebuild), scoring with the trained model and
    publishing. `seconds` is the four parts' sum, each in the details."""
    import polars as pl

    from ml.publish import publish as publish_top_n
    from ml.score import score as score_candidates
    from warehouse.loader import load_batch
    from warehouse.raw_tables import RAW_TABLES

    end = dt.date.fromisoformat(scale["end_date"])
    plays = pl.read_parquet(_world_files(workdir)["synthetic_plays"])
    last_day = plays.filter(pl.col("played_at").dt.date() == end - dt.timedelta(days=1))
    new_day = last_day.with_columns(pl.col("played_at") + pl.duration(days=1))
    parts: dict[str, float] = {}
    with _connect() as conn:
        started = time.perf_counter()
        load_batch(
            conn,
            new_day,
            RAW_TABLES["synthetic_plays"],
            source="synthetic",
            logical_date=end + dt.timedelta(days=1),
        )
        parts["load"] = time.perf_counter() - started
    parts["dbt"], nodes = _dbt_build(workdir)
    with _connect() as conn:
        started = time.perf_counter()
        score_candidates(conn, artifacts_dir=workdir / ARTIFACTS_DIR)
        parts["score"] = time.perf_counter() - started
        started = time.perf_counter()
        publish_top_n(conn, top_n=20)
        parts["publish"] = time.perf_counter() - started
    return {
        "seconds": sum(parts.values()),
        "rows": new_day.height,
        "details": {
            **{f"{name}_seconds": round(value, 2) for name, value in parts.items()},
            "slowest": _slowest(nodes),
        },
    }


STAGES: dict[str, Callable[[Path, dict[str, Any]], StageResult]] = {
    "generate": generate,
    "load": load,
    "copy": copy_baseline,
    "dbt": dbt,
    "train": train,
    "score": score,
    "predict": predict_baseline,
    "publish": publish,
    "daily": daily,
}


def main() -> int:
    from observability.logs import configure_logging

    configure_logging()
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--scale", type=json.loads, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()
    result = STAGES[args.stage](args.workdir, args.scale)
    args.result.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
