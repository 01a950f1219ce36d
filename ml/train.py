"""Train the repeat-within-30-days model on labelled first plays and register it.

Reads marts.fct_pair_features (labelled rows only: censored pairs have no label and are
never used), splits each user's timeline (ml.split), fits LightGBM (params by a time-split
search over the training rows, `_fit`), measures it beside the baselines of ml.baselines on
the same rows (AUC, per-user AUC, log loss, and recall@20 / NDCG@20 of each user's
validation pairs ranked by score, ml.ranking), saves the model folder with the validation
predictions and the run's report (ml.report), and inserts one ml.model_runs row.
Deterministic for a given mart: fixed seed, `deterministic=True`, two threads and rows read
in a fixed order.
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
from psycopg.types.json import Jsonb

from config import get_settings
from ml import baselines, metrics, rankers, ranking
from ml.artifacts import model_sha256, model_version, save_logistic, save_model
from ml.backtest import backtest
from ml.db import PAIR_FEATURES, feature_query, iter_frames
from ml.features import CATEGORICAL_FEATURES, FEATURES, fit_vocabulary, to_matrix
from ml.list_model import fit_list_model, read_outcomes, user_fold
from ml.report import write_report
from ml.runs import SUCCEEDED, ModelRun, record_run
from ml.split import LABEL_WINDOW, Split, split_grouped_by_user

log = logging.getLogger(__name__)

LABEL = "repeat_30d"
PREDICTIONS_FILE = "valid_predictions.parquet"
"""Validation rows with the label, the model's and every baseline's score (for the report)."""
READ_BATCH_ROWS = 200_000
"""Labelled pairs per frame while they are read and split."""
BASELINE = "track_repeat_rate"
"""The baseline whose numbers fill ml.model_runs' `baseline_*` columns."""
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    # Early stopping reads the log loss alone; the search's AUCs come from one prediction
    # of the stop rows after each fit. Evaluating AUC at every round as well cost 5 of the
    # search's 32 s at demo size and changed no tree (docs/benchmarks.md).
    "metric": ["binary_logloss"],
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "lambda_l2": 1.0,
    "deterministic": True,
    "force_col_wise": True,
    "seed": 20240611,
    "verbosity": -1,
    "num_boost_round": 1000,
    "early_stopping_rounds": 50,
}
SEARCH_GRID: tuple[dict[str, Any], ...] = (
    {},
    {"num_leaves": 7, "min_data_in_leaf": 200},
    {"num_leaves": 31, "min_data_in_leaf": 50},
    {"num_leaves": 15, "min_data_in_leaf": 300, "lambda_l2": 10.0, "feature_fraction": 0.6},
)
"""The time-split search over the training rows (`_fit`): DEFAULT_PARAMS with each entry."""
BLEND_WEIGHTS = (1.0, 0.7, 0.5, 0.3)
"""LightGBM's share in the blend with the logistic regression (`_blend_weight`)."""
BOOTSTRAP_ROUNDS = 100
"""Resamples of whole listeners that measure how much the blends' stop-row scores differ
by chance (`_blend_weight`)."""
STOP_SHARE = 0.2
"""The latest share of each user's training rows (by time) that early stopping and the
search look at; the refit then uses every training row."""
SEARCH_MAX_ROWS = 300_000
"""Training rows the search's fits read at most. Above it the SEARCH_GRID entries are
compared on the rows of the listeners with the smallest hash (about this many rows), and
only the winner grows trees on every training row, early stopped on every stop row: one
full-size fit instead of one per entry, the same number of trees a full search would
pick for the winner."""
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

    With `list_model` (the nightly job), the list model (ml.list_model) is fitted too, from
    the past cut-offs' candidates of marts.fct_candidate_outcomes, the ranking the lists
    are published with is chosen (ml.rankers) and the lists are backtested (ml.backtest),
    all saved in the same folder. Without it (quick runs, tests) the repeat model ranks.
    The summaries join the run's `metrics` under "list_model", "ranking" and "backtest".

    `params` override DEFAULT_PARAMS (LightGBM params plus `num_boost_round` and
    `early_stopping_rounds`). Raises ValueError when the split leaves no usable training or
    validation rows (e.g. histories shorter than `validation_days` + 30 days). With `report`,
    the run's report (ml.report) is written into the model folder; a report that fails to
    render is logged and leaves the run registered (its `metrics.report_path` NULL).
    """
    trained = fit_and_register(
        conn,
        artifacts_dir=artifacts_dir,
        validation_days=validation_days,
        params=params,
        report=report,
    )
    folder = Path(trained.run.artifact_path)
    summary: dict[str, Any] | None = None
    if list_model:
        outcomes = read_outcomes(conn)
        sidecar = fit_list_model(conn, folder=folder, frame=outcomes)
        summary = {
            key: sidecar.get(key) for key in ("used", "reason", "rows", "metrics", "seconds")
        }
        list_params = sidecar["metrics"]["params"] if sidecar["used"] else None
        choice = rankers.choose(outcomes, list_params=list_params)
    else:  # a quick run (tests, debugging): no list learning, no choice
        choice = {
            "ranker": rankers.REPEAT_MODEL,
            "contenders": {},
            "reason": "trained without the list model: the repeat model ranks",
        }
    rankers.save_choice(folder, choice)
    ranking_summary = {key: choice.get(key) for key in ("ranker", "reason", "contenders")}
    graded = None
    if list_model:  # the nightly job: grade the published lists at cut-off 1 too
        graded = _backtest_summary(conn, artifacts_dir, trained.run.model_version, outcomes)
    extra = {"list_model": summary, "ranking": ranking_summary, "backtest": graded}
    with conn.transaction():
        conn.execute(
            "update ml.model_runs set metrics = metrics || %s where run_id = %s",
            [Jsonb(extra), trained.run.run_id],
        )
    trained.run.metrics.update(extra)
    return trained.run


def _backtest_summary(
    conn: psycopg.Connection, artifacts_dir: Path, model_version: str, outcomes: pl.DataFrame
) -> dict[str, Any] | None:
    """ml.backtest at cut-off 1 on the outcomes already read, summarised for the run's
    metrics (None: nothing to grade)."""
    try:
        result = backtest(
            conn, artifacts_dir=artifacts_dir, model_version=model_version, outcomes=outcomes
        )
    except ValueError as nothing:
        log.warning("no backtest: %s", nothing)
        return None
    k = result["k"]
    rankings = result["rankings"]
    strongest = result["strongest_baseline"]
    return {
        "published_ranking": result["published_ranking"],
        "users_evaluated": result["users_evaluated"],
        "candidate_coverage": result["candidate_coverage"],
        f"published_ndcg_at_{k}": rankings["published"][f"ndcg_at_{k}"],
        f"recent_plays_ndcg_at_{k}": rankings["recent_plays"][f"ndcg_at_{k}"],
        "strongest_baseline": strongest,
        f"strongest_baseline_ndcg_at_{k}": rankings[strongest][f"ndcg_at_{k}"]
        if strongest
        else None,
        "published_vs_recent_plays": result["published_vs_recent_plays"],
        "report_path": result["report_path"],
    }


def fit_and_register(
    conn: psycopg.Connection,
    *,
    artifacts_dir: Path,
    validation_days: int = 30,
    params: dict[str, Any] | None = None,
    report: bool = True,
) -> Trained:
    """`train`, returning the fitted model and baselines too (for ml.backtest)."""
    merged = (
        DEFAULT_PARAMS | {"num_threads": get_settings().encore_lightgbm_threads} | (params or {})
    )
    split = _read_split(conn, validation_days)
    _check_usable(split.train, "training", validation_days)
    _check_usable(split.valid, "validation", validation_days)
    log.info("training on %d rows, validating on %d", split.train.height, split.valid.height)

    vocabulary = fit_vocabulary(split.train)
    booster, search = _fit(split.train, vocabulary, merged, search=params is None)
    best = booster.current_iteration()
    y_valid = split.valid[LABEL].to_numpy()
    train_mean = split.train[LABEL].mean()
    assert isinstance(train_mean, (int, float))  # a 0/1 column with rows (_check_usable)
    positive_rate = float(train_mean)
    started = time.perf_counter()
    logistic = baselines.fit_logistic(split.train, split.train[LABEL].to_numpy())
    log.info("logistic-regression baseline fitted in %.1f s", time.perf_counter() - started)
    weight = search["blend_weight"]
    predicted = booster.predict(to_matrix(split.valid, vocabulary), num_iteration=best)
    assert isinstance(predicted, np.ndarray)  # dense input: dense output
    baseline_scores = baselines.baseline_scores(split.valid, positive_rate, logistic)
    if weight < 1.0:
        predicted = weight * predicted + (1.0 - weight) * baseline_scores["logistic_regression"]
    evaluation = _evaluate(split.valid, y_valid, predicted, baseline_scores)

    trained_at = datetime.now(UTC)  # full precision: "latest" must never tie
    model_text = booster.model_to_string(num_iteration=best)
    run_id = uuid.uuid4()
    version = model_version(model_text, trained_at, run_id)
    run_params = (merged | search["chosen"]) | {
        "best_iteration": best,
        "validation_days": validation_days,
        "blend_weight": weight,
        "blends": search["blends"],
        "search": search["results"],
        "search_rows": search["search_rows"],
        "search_full_fit": search["full_fit"],
    }
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
        "blend_weight": weight,
        "split": {k: _jsonable(v) for k, v in split_info.items()},
        "metrics": evaluation,
        "feature_importance_gain": dict(
            zip(FEATURES, booster.feature_importance("gain", iteration=best).tolist(), strict=True)
        ),
    }
    folder = save_model(artifacts_dir, version, model_text, sidecar)
    if weight < 1.0:
        save_logistic(folder, logistic)
    _predictions_frame(split.valid, y_valid, predicted, baseline_scores).write_parquet(
        folder / PREDICTIONS_FILE
    )
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
    return Trained(
        run=run,
        booster=booster,
        best_iteration=best,
        vocabulary=vocabulary,
        logistic=logistic,
        positive_rate=positive_rate,
    )


def _write_report(folder: Path) -> str | None:
    try:
        return str(write_report(folder).resolve())
    except Exception:  # the model is good even if a plot is not: register it anyway
        log.exception("the report of %s could not be written", folder.name)
        return None


def _predictions_frame(
    valid: pl.DataFrame,
    labels: np.ndarray,
    predicted: np.ndarray,
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


def _read_split(conn: psycopg.Connection, validation_days: int) -> Split:
    """Labelled first plays in a fixed order (LightGBM's result depends on row order),
    split per user (ml.split) as they stream: the rows the split drops are never held."""
    select = feature_query(
        PAIR_FEATURES,
        _KEYS,
        not_null=[LABEL],
        order_by=["user_id", "first_played_at", "track_key"],
    )
    with conn.transaction():
        return split_grouped_by_user(
            iter_frames(conn, select, READ_BATCH_ROWS),
            validation_days=validation_days,
            schema=dict(select.columns),
        )


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
    vocabulary: dict[str, list[str]],
    params: dict[str, Any],
    *,
    search: bool = True,
) -> tuple[lgb.Booster, dict[str, Any]]:
    """The repeat model from the training rows only (the validation rows are for reporting).

    Each user's latest STOP_SHARE of training rows (by time) is held out; with `search`,
    every SEARCH_GRID entry is fitted on the rest with early stopping there and the best
    (mean of pooled and per-user AUC on the held-out rows) wins (compared on a sample of
    listeners above SEARCH_MAX_ROWS). The chosen params and number of trees then refit on
    all training rows."""
    fit_rows, stop_rows = _late_split(train)
    sample = _search_sample(train) if search else train
    sampled = sample.height < train.height
    search_fit, search_stop = _late_split(sample) if sampled else (fit_rows, stop_rows)
    usable = all(
        frame.height and frame[LABEL].n_unique() == 2
        for frame in (fit_rows, stop_rows, search_fit, search_stop)
    )
    results: list[dict[str, Any]] = []
    if usable:
        predictions: list[np.ndarray] = []
        x_stop = to_matrix(search_stop, vocabulary)
        for entry in SEARCH_GRID if search else ({},):
            result, predicted = _search_fit(
                search_fit, search_stop, x_stop, vocabulary, params, entry
            )
            results.append(result)
            predictions.append(predicted)
    best: dict[str, Any] = (
        max(results, key=lambda r: r["score"])
        if results
        else {"params": {}, "rounds": int(params["num_boost_round"]) // 10}
    )
    chosen = params | best["params"]
    lgb_params = {
        k: v for k, v in chosen.items() if k not in ("num_boost_round", "early_stopping_rounds")
    }
    weight, full_fit = 1.0, None
    blends: list[dict[str, Any]] = []
    if usable:
        trees = predictions[results.index(best)]
        if sampled:  # the winner's trees on every training row (SEARCH_MAX_ROWS)
            x_all_stop = to_matrix(stop_rows, vocabulary)
            full_fit, trees = _search_fit(
                fit_rows, stop_rows, x_all_stop, vocabulary, params, best["params"]
            )
            best = best | {"rounds": full_fit["rounds"]}
        # The blend with a logistic regression (both fitted on the same earlier rows): the
        # monotone signal a linear model captures steadies the trees on small data. The
        # trees' side: the best search fit at its best iteration, the same trees a refit
        # with that many rounds grows (a validation set does not change the trees).
        linear = baselines.fit_logistic(fit_rows, fit_rows[LABEL].to_numpy()).predict(stop_rows)
        weight, blends = _blend_weight(stop_rows, trees, linear)
    booster = lgb.train(lgb_params, _dataset(train, vocabulary), num_boost_round=best["rounds"])
    return booster, {
        "chosen": best["params"],
        "results": results,
        "blends": blends,
        "blend_weight": weight,
        "search_rows": sample.height,
        "full_fit": full_fit,
    }


def _blend_weight(
    stop_rows: pl.DataFrame, trees: np.ndarray, linear: np.ndarray
) -> tuple[float, list[dict[str, Any]]]:
    """LightGBM's share in the blend, by the one-standard-error rule: of the BLEND_WEIGHTS
    whose stop-row score is within one standard error of the best one's, the share that
    leans most on the logistic regression. A lead smaller than chance on the latest
    training rows does not buy the trees more weight: on real histories, where those rows
    are few listeners, the trees' lead there did not last into the validation rows
    (docs/model.md). The standard error: the spread of the score's difference to the best
    blend over BOOTSTRAP_ROUNDS resamples of whole listeners. Returns the share and each
    blend's scores (with `se`, its standard error against the best)."""
    blended = {share: share * trees + (1 - share) * linear for share in BLEND_WEIGHTS}
    blends = [
        {"blend_weight": share, **_stop_scores(stop_rows, blended[share])}
        for share in BLEND_WEIGHTS
    ]
    best = max(blends, key=lambda r: r["score"])
    resampled = metrics.user_bootstrap_scores(
        stop_rows["user_id"].to_numpy(),
        stop_rows[LABEL].to_numpy(),
        blended,
        rounds=BOOTSTRAP_ROUNDS,
    )
    for blend in blends:
        difference = resampled[blend["blend_weight"]] - resampled[best["blend_weight"]]
        defined = difference[~np.isnan(difference)]  # rounds that drew something to compare
        blend["se"] = float(np.std(defined)) if defined.size else 0.0
    close = [r for r in blends if r is best or r["score"] >= best["score"] - r["se"]]
    return min(r["blend_weight"] for r in close), blends


def _late_split(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(fit rows, stop rows): each user's latest STOP_SHARE of rows by time are the stop rows."""
    order = pl.col("first_played_at").rank("ordinal").over("user_id")
    size = pl.len().over("user_id")
    late = frame.select(order > size * (1 - STOP_SHARE)).to_series().to_numpy()
    return frame.filter(pl.Series(~late)), frame.filter(pl.Series(late))


def _search_sample(train: pl.DataFrame) -> pl.DataFrame:
    """The training rows the search compares its entries on: all of them up to
    SEARCH_MAX_ROWS, else the rows of the listeners with the smallest hash that fit in it
    (stable across runs: ml.list_model.user_fold)."""
    if train.height <= SEARCH_MAX_ROWS:
        return train
    per_user = train.group_by("user_id").len()
    hashes = [user_fold(user, 2**31) for user in per_user["user_id"].to_list()]
    kept = (
        per_user.with_columns(hash=pl.Series(hashes, dtype=pl.Int64))
        .sort("hash", "user_id")
        .filter(pl.col("len").cum_sum() - pl.col("len") < SEARCH_MAX_ROWS)
    )
    return train.filter(pl.col("user_id").is_in(kept["user_id"].implode()))


def _search_fit(
    fit_rows: pl.DataFrame,
    stop_rows: pl.DataFrame,
    x_stop: np.ndarray,
    vocabulary: dict[str, list[str]],
    params: dict[str, Any],
    entry: dict[str, Any],
) -> tuple[dict[str, Any], np.ndarray]:
    """One early-stopped fit of `params` with `entry`: its result (rounds, pooled and
    per-user AUC of the stop rows, their mean as the score) and its stop-row predictions
    (`x_stop`: the stop rows' matrix)."""
    booster = _train(fit_rows, vocabulary, params | entry, stop_rows)
    rounds = int(booster.best_iteration or 1)
    predicted = booster.predict(x_stop, num_iteration=rounds)
    assert isinstance(predicted, np.ndarray)  # dense input: dense output
    result = {"params": entry, "rounds": rounds, **_stop_scores(stop_rows, predicted)}
    return result, predicted


def _stop_scores(stop_rows: pl.DataFrame, predicted: np.ndarray) -> dict[str, float]:
    """Pooled and per-user AUC of `predicted` on the stop rows, and their
    `metrics.search_score` (`score`)."""
    labels = stop_rows[LABEL].to_numpy()
    auc = metrics.auc(labels, predicted)
    user_auc, _ = metrics.mean_user_auc(stop_rows["user_id"].to_numpy(), labels, predicted)
    return {"auc": auc, "user_auc": user_auc, "score": metrics.search_score(auc, user_auc)}


def _dataset(
    frame: pl.DataFrame, vocabulary: dict[str, list[str]], reference: lgb.Dataset | None = None
) -> lgb.Dataset:
    return lgb.Dataset(
        to_matrix(frame, vocabulary),
        label=frame[LABEL].to_numpy(),
        feature_name=list(FEATURES),
        categorical_feature=list(CATEGORICAL_FEATURES),
        reference=reference,
    )


def _train(
    fit_rows: pl.DataFrame,
    vocabulary: dict[str, list[str]],
    params: dict[str, Any],
    stop_rows: pl.DataFrame,
) -> lgb.Booster:
    """Fit `fit_rows`, early stopping on `stop_rows`' log loss."""
    lgb_params = {
        k: v for k, v in params.items() if k not in ("num_boost_round", "early_stopping_rounds")
    }
    fit_set = _dataset(fit_rows, vocabulary)
    return lgb.train(
        lgb_params,
        fit_set,
        num_boost_round=int(params["num_boost_round"]),
        valid_sets=[_dataset(stop_rows, vocabulary, fit_set)],
        valid_names=["stop"],
        callbacks=[
            lgb.early_stopping(
                int(params["early_stopping_rounds"]), first_metric_only=True, verbose=False
            )
        ],
    )


def _evaluate(
    valid: pl.DataFrame,
    labels: np.ndarray,
    predicted: np.ndarray,
    baseline_scores: dict[str, np.ndarray],
    k: int = ranking.DEFAULT_K,
) -> dict[str, Any]:
    """Model and baselines on the same validation rows (ml.baselines, ml.ranking).

    Top-level keys are the model's numbers plus, for the existing columns, the
    track-repeat-rate baseline's (`baseline_*`); `baselines` holds every baseline's
    `auc`, `user_auc`, `log_loss` (probabilities only), `recall_at_k`, `ndcg_at_k`.
    """
    # integer codes, not strings, for the frames every scorer's metrics build: the same
    # groups, and the same ties (items are coded in their sort order)
    users = valid["user_id"].rank("dense").to_numpy()
    items = valid["track_key"].rank("dense").to_numpy()
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
            "user_prior_repeat_rate": {
                key: others["user_repeat_rate"][key] for key in ("auc", "user_auc")
            },
            "user_artist_prior_plays": {
                key: others["user_artist_plays"][key] for key in ("auc", "user_auc")
            },
        },
    }


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
