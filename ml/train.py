"""Train the repeat-within-30-days model on labelled first plays and register it.

Reads marts.fct_pair_features (labelled rows only: censored pairs have no label and are
never used), splits each user's timeline (ml.split), fits LightGBM with early stopping on the
validation rows, measures it beside the baselines of ml.baselines on the same rows (AUC,
per-user AUC, log loss, and recall@20 / NDCG@20 of each user's validation pairs ranked by
score, ml.ranking), saves the model folder with the validation predictions and the run's
report (ml.report), and inserts one ml.model_runs row. Deterministic for a given mart: fixed
seed, `deterministic=True`, two threads and rows read in a fixed order.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ml import baselines, ranking
from ml.artifacts import model_sha256, model_version, save_model
from ml.db import PAIR_FEATURES, feature_query, read_frame
from ml.features import CATEGORICAL_FEATURES, FEATURES, fit_vocabulary, to_matrix
from ml.runs import SUCCEEDED, ModelRun, record_run
from ml.split import LABEL_WINDOW, Split, split_by_user_time

log = logging.getLogger(__name__)

LABEL = "repeat_30d"
PREDICTIONS_FILE = "valid_predictions.parquet"
"""Validation rows with the label, the model's and every baseline's score (for the report)."""
BASELINE = "track_repeat_rate"
"""The baseline whose numbers fill ml.model_runs' `baseline_*` columns."""
# Modest on purpose: the marts are small and the signal is in a few count/rate features.
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": ["binary_logloss", "auc"],
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "lambda_l2": 1.0,
    "num_threads": 2,
    "deterministic": True,
    "force_col_wise": True,
    "seed": 20240611,
    "verbosity": -1,
    "num_boost_round": 1000,
    "early_stopping_rounds": 50,
}
_KEYS = {
    "user_id": pl.String(),
    "track_key": pl.String(),
    "first_played_at": pl.Datetime("us", "UTC"),
    LABEL: pl.Int32(),
}


@dataclass(frozen=True)
class Trained:
    """A registered run plus what a backtest needs to score candidates the same way."""

    run: ModelRun
    booster: lgb.Booster
    best_iteration: int
    vocabulary: dict[str, list[str]]
    logistic: baselines.LogisticBaseline
    positive_rate: float


def train(
    conn: psycopg.Connection,
    *,
    artifacts_dir: Path,
    validation_days: int = 30,
    params: dict[str, Any] | None = None,
    report: bool = True,
    list_model: bool = False,
) -> ModelRun:
    """Train, evaluate, save and register a model; return the registered run.

    With `list_model`, the list model (ml.list_model) is fitted too and saved in the same
    folder: it needs a scratch build of the warehouse as of 30 days ago (minutes at demo
    size), so the nightly job asks for it and unit tests don't. Its metrics join the run's
    `metrics` under "list_model" (null when the history is too short for one).

    `params` override DEFAULT_PARAMS (LightGBM params plus `num_boost_round` and
    `early_stopping_rounds`). Raises ValueError when the split leaves no usable training or
    validation rows (e.g. histories shorter than `validation_days` + 30 days). With `report`,
    the run's report (ml.report) is written into the model folder; a report that fails to
    render is logged and leaves the run registered (its `metrics.report_path` NULL).
    """
    trained = fit_and_register(conn, artifacts_dir=artifacts_dir,
                               validation_days=validation_days, params=params, report=report)
    if list_model:
        from ml.list_model import fit_list_model

        sidecar = fit_list_model(conn, folder=Path(trained.run.artifact_path),
                                 vocabulary=trained.vocabulary,
                                 work_dir=artifacts_dir / ".list_model",
                                 validation_days=validation_days)
        summary = None if sidecar is None else {
            key: sidecar[key] for key in ("cutoff", "candidates", "metrics", "seconds")}
        with conn.transaction():
            conn.execute("update ml.model_runs set metrics = metrics || %s where run_id = %s",
                         [Jsonb({"list_model": summary}), trained.run.run_id])
        trained.run.metrics["list_model"] = summary
    return trained.run


def fit_and_register(
    conn: psycopg.Connection,
    *,
    artifacts_dir: Path,
    validation_days: int = 30,
    params: dict[str, Any] | None = None,
    report: bool = True,
) -> Trained:
    """`train`, returning the fitted model and baselines too (for ml.backtest)."""
    merged = DEFAULT_PARAMS | (params or {})
    frame = _read_labelled(conn)
    split = split_by_user_time(frame, validation_days=validation_days)
    _check_usable(split.train, "training", validation_days)
    _check_usable(split.valid, "validation", validation_days)
    log.info("training on %d rows, validating on %d", split.train.height, split.valid.height)

    vocabulary = fit_vocabulary(split.train)
    booster = _fit(split.train, split.valid, vocabulary, merged)
    best = booster.best_iteration or booster.current_iteration()
    y_valid = split.valid[LABEL].to_numpy()
    predicted = booster.predict(to_matrix(split.valid, vocabulary), num_iteration=best)
    positive_rate = float(split.train[LABEL].mean())
    started = time.perf_counter()
    logistic = baselines.fit_logistic(split.train, split.train[LABEL].to_numpy())
    log.info("logistic-regression baseline fitted in %.1f s", time.perf_counter() - started)
    baseline_scores = baselines.baseline_scores(split.valid, positive_rate, logistic)
    evaluation = _evaluate(split.valid, y_valid, predicted, baseline_scores)

    trained_at = datetime.now(UTC)  # full precision: "latest" must never tie
    model_text = booster.model_to_string(num_iteration=best)
    run_id = uuid.uuid4()
    version = model_version(model_text, trained_at, run_id)
    run_params = merged | {"best_iteration": best, "validation_days": validation_days}
    split_info = _split_summary(split, validation_days)
    sidecar = {
        "model_version": version,
        "run_id": str(run_id),
        "model_sha256": model_sha256(model_text),
        "trained_at": trained_at.isoformat(),
        "features": list(FEATURES),
        "categorical_features": list(CATEGORICAL_FEATURES),
        "vocabulary": vocabulary,
        "params": run_params,
        "positive_rate": positive_rate,
        "split": {k: _jsonable(v) for k, v in split_info.items()},
        "metrics": evaluation,
        "feature_importance_gain": dict(
            zip(FEATURES, booster.feature_importance("gain", iteration=best).tolist(), strict=True)
        ),
    }
    folder = save_model(artifacts_dir, version, model_text, sidecar)
    _predictions_frame(split.valid, y_valid, predicted, baseline_scores).write_parquet(
        folder / PREDICTIONS_FILE)
    stored_metrics = dict(evaluation)
    if report:
        started = time.perf_counter()
        stored_metrics["report_path"] = _write_report(folder)
        log.info("report written in %.1f s", time.perf_counter() - started)
    run = ModelRun(
        run_id=run_id,
        model_version=version,
        trained_at=trained_at,
        status=SUCCEEDED,
        train_rows=split.train.height,
        valid_rows=split.valid.height,
        train_from=split_info["train_from"],
        train_until=split_info["train_until"],
        valid_from=split_info["valid_from"],
        valid_until=split_info["valid_until"],
        auc=evaluation["auc"],
        log_loss=evaluation["log_loss"],
        baseline_auc=evaluation["baseline_auc"],
        baseline_log_loss=evaluation["baseline_log_loss"],
        positive_rate=positive_rate,
        params=run_params,
        features=list(FEATURES),
        artifact_path=folder.resolve(),
        metrics=stored_metrics,
    )
    record_run(conn, run)
    log.info("model %s: auc %.4f (baseline %.4f)", version, run.auc, run.baseline_auc)
    return Trained(run=run, booster=booster, best_iteration=best, vocabulary=vocabulary,
                   logistic=logistic, positive_rate=positive_rate)


def _write_report(folder: Path) -> str | None:
    from ml.report import write_report

    try:
        return str(write_report(folder).resolve())
    except Exception:  # the model is good even if a plot is not: register it anyway
        log.exception("the report of %s could not be written", folder.name)
        return None


def _predictions_frame(
    valid: pl.DataFrame, labels: np.ndarray, predicted: np.ndarray,
    baseline_scores: dict[str, np.ndarray],
) -> pl.DataFrame:
    return valid.select("user_id", "track_key").with_columns(
        label=pl.Series(labels, dtype=pl.Int32),
        model=pl.Series(predicted, dtype=pl.Float64),
        **{name: pl.Series(values, dtype=pl.Float64) for name, values in baseline_scores.items()},
    )


def _split_summary(split: Split, validation_days: int) -> dict[str, Any]:
    """Where the split fell, for ml.model_runs and the sidecar."""
    return {
        "validation_days": validation_days,
        "label_window_days": LABEL_WINDOW.days,
        "train_from": split.train["first_played_at"].min(),
        "train_until": split.train["first_played_at"].max(),
        "valid_from": split.valid["first_played_at"].min(),
        "valid_until": split.valid["first_played_at"].max(),
        "train_rows": split.train.height,
        "valid_rows": split.valid.height,
        "train_users": split.train["user_id"].n_unique(),
        "valid_users": split.valid["user_id"].n_unique(),
    }


def _read_labelled(conn: psycopg.Connection) -> pl.DataFrame:
    """Labelled first plays in a fixed order (LightGBM's result depends on row order)."""
    query, schema = feature_query(
        PAIR_FEATURES, _KEYS, sql.SQL("{} is not null").format(sql.Identifier(LABEL))
    )
    query = sql.SQL("{} order by user_id, first_played_at, track_key").format(query)
    with conn.transaction():
        return read_frame(conn, query, schema)


def _check_usable(frame: pl.DataFrame, role: str, validation_days: int) -> None:
    """Training rows exist only for users with more than `validation_days` + 30 days of
    labelled first plays, i.e. about `validation_days` + 60 days of plays (the newest 30 are
    censored): say so instead of failing inside LightGBM."""
    if frame.height == 0 or frame[LABEL].n_unique() < 2:
        raise ValueError(
            f"the {role} rows need both repeated and not-repeated first plays, got "
            f"{frame.height} rows: training needs users with more than {validation_days} + "
            f"{LABEL_WINDOW.days} days of labelled first plays (about {validation_days + 60} "
            "days of plays); load a longer history or lower validation_days"
        )


def _fit(
    train: pl.DataFrame,
    valid: pl.DataFrame,
    vocabulary: dict[str, list[str]],
    params: dict[str, Any],
) -> lgb.Booster:
    lgb_params = {
        k: v for k, v in params.items() if k not in ("num_boost_round", "early_stopping_rounds")
    }
    dataset_args = {
        "feature_name": list(FEATURES),
        "categorical_feature": list(CATEGORICAL_FEATURES),
    }
    train_set = lgb.Dataset(
        to_matrix(train, vocabulary), label=train[LABEL].to_numpy(), **dataset_args
    )
    valid_set = lgb.Dataset(
        to_matrix(valid, vocabulary),
        label=valid[LABEL].to_numpy(),
        reference=train_set,
        **dataset_args,
    )
    return lgb.train(
        lgb_params,
        train_set,
        num_boost_round=int(params["num_boost_round"]),
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[
            lgb.early_stopping(
                int(params["early_stopping_rounds"]), first_metric_only=True, verbose=False
            )
        ],
    )


def _evaluate(
    valid: pl.DataFrame, labels: np.ndarray, predicted: np.ndarray,
    baseline_scores: dict[str, np.ndarray], k: int = ranking.DEFAULT_K,
) -> dict[str, Any]:
    """Model and baselines on the same validation rows (ml.baselines, ml.ranking).

    Top-level keys are the model's numbers plus, for the existing columns, the
    track-repeat-rate baseline's (`baseline_*`); `baselines` holds every baseline's
    `auc`, `user_auc`, `log_loss` (probabilities only), `recall_at_k`, `ndcg_at_k`.
    """
    users = valid["user_id"].to_numpy()
    items = valid["track_key"].to_numpy()
    model = baselines.evaluate_scores(users, items, labels, predicted, probability=True, k=k)
    others = baselines.evaluate_baselines(users, items, labels, baseline_scores, k=k)
    track = others[BASELINE]
    return {
        "auc": model["auc"],
        "log_loss": model["log_loss"],
        "baseline": BASELINE,
        "baseline_auc": track["auc"],
        "baseline_log_loss": track["log_loss"],
        "valid_positive_rate": float(labels.mean()),
        "user_auc": model["user_auc"],
        "user_auc_users": model["user_auc_users"],
        "baseline_user_auc": track["user_auc"],
        "k": k,
        f"recall_at_{k}": model[f"recall_at_{k}"],
        f"ndcg_at_{k}": model[f"ndcg_at_{k}"],
        "list_users": model["list_users"],
        "baselines": others,
        # Kept for readers of earlier runs: the ranking-only baselines' AUCs.
        "ranking_baselines": {
            "user_prior_repeat_rate": {key: others["user_repeat_rate"][key]
                                       for key in ("auc", "user_auc")},
            "user_artist_prior_plays": {key: others["user_artist_plays"][key]
                                        for key in ("auc", "user_auc")},
        },
    }


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
