"""Train the repeat-within-30-days model on labelled first plays and register it.

Reads marts.fct_pair_features (labelled rows only: censored pairs have no label and are
never used), splits each user's timeline (ml.split), fits LightGBM with early stopping on the
validation rows, measures it beside the track-repeat-rate baseline on the same rows, saves
the model folder and inserts one ml.model_runs row. Deterministic for a given mart: fixed
seed, `deterministic=True`, two threads and rows read in a fixed order.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from ml import metrics
from ml.artifacts import model_sha256, model_version, save_model
from ml.db import PAIR_FEATURES, feature_query, read_frame
from ml.features import CATEGORICAL_FEATURES, FEATURES, fit_vocabulary, to_matrix
from ml.runs import SUCCEEDED, ModelRun, record_run
from ml.split import LABEL_WINDOW, Split, split_by_user_time

log = logging.getLogger(__name__)

LABEL = "repeat_30d"
BASELINE_FEATURE = "track_prior_repeat_rate"
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


def train(
    conn: psycopg.Connection,
    *,
    artifacts_dir: Path,
    validation_days: int = 30,
    params: dict[str, Any] | None = None,
) -> ModelRun:
    """Train, evaluate, save and register a model; return the registered run.

    `params` override DEFAULT_PARAMS (LightGBM params plus `num_boost_round` and
    `early_stopping_rounds`). Raises ValueError when the split leaves no usable training or
    validation rows (e.g. histories shorter than `validation_days` + 30 days).
    """
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
    evaluation = _evaluate(split.valid, y_valid, predicted, positive_rate)

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
        metrics=evaluation,
    )
    record_run(conn, run)
    log.info("model %s: auc %.4f (baseline %.4f)", version, run.auc, run.baseline_auc)
    return run


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
    valid: pl.DataFrame, labels: np.ndarray, predicted: np.ndarray, positive_rate: float
) -> dict[str, Any]:
    """Model and baselines on the same validation rows.

    The probability baseline is the track's historical repeat rate (NULL → the training
    positive rate); the user's own repeat rate and user-artist plays are ranking-only
    baselines (AUC only), as DESIGN.md asks.
    """
    users = valid["user_id"].to_numpy()
    baseline = valid[BASELINE_FEATURE].fill_null(positive_rate).to_numpy()
    result: dict[str, Any] = {
        "auc": metrics.auc(labels, predicted),
        "log_loss": metrics.log_loss(labels, predicted),
        "baseline_auc": metrics.auc(labels, baseline),
        "baseline_log_loss": metrics.log_loss(labels, baseline),
        "valid_positive_rate": float(labels.mean()),
    }
    result["user_auc"], result["user_auc_users"] = metrics.mean_user_auc(users, labels, predicted)
    result["baseline_user_auc"], _ = metrics.mean_user_auc(users, labels, baseline)
    ranking_baselines = {
        "user_prior_repeat_rate": valid["user_prior_repeat_rate"].fill_null(positive_rate),
        "user_artist_prior_plays": valid["user_artist_prior_plays"].fill_null(0),
    }
    result["ranking_baselines"] = {
        name: {
            "auc": metrics.auc(labels, values.to_numpy()),
            "user_auc": metrics.mean_user_auc(users, labels, values.to_numpy())[0],
        }
        for name, values in ranking_baselines.items()
    }
    return result


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
