"""The list model: ranks each listener's candidates by the probability that they play the
track again within 30 days of their own clock: the question the published lists are
graded on (docs/model.md, "The list model").

It learns from `marts.fct_candidate_outcomes`: the candidates of every listener at past
cut-offs of their own clock (clock - 30, 60, ... days), built by the same dbt models as the
served candidates, with the features as of the cut-off and the outcome after it
(`replayed_30d`). Listeners whose histories ended years ago contribute their own periods,
so the model sees many periods and many kinds of listeners.

Fitting is split by time, never by the rows it is graded on: parameters come from a small
search that fits the cut-offs 3 and older and compares NDCG@20 on cut-off 2; the number of
trees comes from early stopping on cut-off 1 (the latest part of the training rows) while
fitting cut-offs 2 and older; the model then refits on every cut-off. Below `MIN_FIT_ROWS`
rows or without a hold-out of `MIN_HOLDOUT_LISTENERS` listeners at cut-off 1, no list model
is fitted: the lists are ranked by the fallback (ml.ranking_choice), and the run says so.
Each (listener, cut-off) list weighs the same in the fit, as in the NDCG the lists are
graded on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import psycopg

from config import get_settings
from ml import attribution, compiled, ranking
from ml.db import MARTS, OUTCOMES, feature_query, read_frame
from warehouse import seam
from warehouse.dbt_project import dbt_var

log = logging.getLogger(__name__)

MODEL_FILE = "list_model.txt"
SIDECAR_FILE = "list_model.json"
SOURCES: tuple[str, ...] = (*dbt_var("candidate_generators"), "popular")
"""The candidate generators (dbt var `candidate_generators`, one model each), then the
popular fill: each is a 0 / 1 input `source_<name>`."""
DECAY_DAYS: tuple[int, ...] = tuple(dbt_var("decay_days"))
HISTORY_FEATURES: tuple[str, ...] = (
    *dbt_var("list_history_features"),
    *(f"user_track_plays_decayed_{tau}d" for tau in DECAY_DAYS),
    f"user_artist_plays_decayed_{DECAY_DAYS[-1]}d",
    *dbt_var("list_rank_features"),
)
"""The listener's own history with the track: dbt's vars `list_history_features`, the
decayed play sums of `decay_days` and `list_rank_features` (macros/feature_columns.sql)."""
CONTEXT_FEATURES: tuple[str, ...] = (
    "user_plays_7d",
    "user_plays_30d",
    "user_new_track_share_30d",
    "user_repeat_rate_smoothed",
    "user_artist_prior_plays",
    "user_artist_plays_30d",
    "user_artist_days_since_last_play",
    "user_artist_repeat_rate_smoothed",
    "user_genre_share",
    "track_prior_listeners",
    "track_plays_28d",
    "track_repeat_rate_smoothed",
    "colisten_score",
)
"""The repeat model's features that tell the listener and the track apart across lists (the
rest of ml.features: context of a first play, catalogue attributes, demographics, stays
out: on real histories they are mostly missing, and they made the model worse there)."""
LIST_FEATURES: tuple[str, ...] = (
    *HISTORY_FEATURES,
    *(f"source_{source}" for source in SOURCES),
)
ALL_FEATURES: tuple[str, ...] = CONTEXT_FEATURES + LIST_FEATURES
LABEL = "replayed_30d"
CUTOFF = "cutoff_number"

MIN_FIT_ROWS = 1_000
"""Fewer rows of cut-offs 2 and older than this: no list model."""
MIN_HOLDOUT_LISTENERS = 3
"""Fewer listeners at cut-off 1 with a replayed candidate: no real hold-out, no list model."""
MAX_LISTS_PER_CUTOFF = 500
"""Lists (listeners) per cut-off a fit learns from at most, sampled by a hash of the
listener: the cost stays bounded however many listeners there are; graded rows are never
sampled."""
MAX_ROUNDS = 1_000
EARLY_STOPPING_ROUNDS = 50
BASE_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": ["binary_logloss"],
    # 0.1 and 63 bins: half the fitting time of 0.05 and 255, the same cross-fitted NDCG@20
    # within noise on the demo, the Last.fm and a Spotify set (issue 13's note)
    "learning_rate": 0.1,
    "max_bin": 63,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_depth": 8,  # shallow trees also keep pred_contrib (the reasons) cheap
    "seed": 7,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
SEARCH_GRID: tuple[dict[str, Any], ...] = (
    {"num_leaves": 7, "min_data_in_leaf": 100},
    {"num_leaves": 15, "min_data_in_leaf": 50},
    {"num_leaves": 31, "min_data_in_leaf": 50},
    {"num_leaves": 15, "min_data_in_leaf": 200, "lambda_l2": 10.0},
)
"""The search: the first entry is the default when there is too little data to search."""


def base_params() -> dict[str, Any]:
    """BASE_PARAMS with this machine's LightGBM threads (ENCORE_LIGHTGBM_THREADS)."""
    return BASE_PARAMS | {"num_threads": get_settings().encore_lightgbm_threads}


_KEYS = {
    "user_id": pl.String(),
    "track_key": pl.String(),
    CUTOFF: pl.Int64(),
    "as_of": pl.Datetime("us", "UTC"),
    "candidate_sources": pl.String(),
    LABEL: pl.Float64(),
}


class NoListModel(ValueError):
    """Why there is no list model this time (too few rows, no hold-out)."""


@dataclass(frozen=True)
class ListModel:
    """A fitted list model and its sidecar."""

    booster: lgb.Booster
    sidecar: dict[str, Any]
    native: compiled.CompiledModel | None = None
    """The same trees as machine code (ml.compiled), which predict when present."""

    @property
    def features(self) -> list[str]:
        return list(ALL_FEATURES)

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """P(replayed within 30 days) for candidate rows (FEATURES, the list features and
        candidate_sources)."""
        rows = matrix(frame)
        if self.native is not None:
            return self.native.predict(rows)
        predicted = self.booster.predict(rows)
        assert isinstance(predicted, np.ndarray)  # dense input: dense output
        return predicted

    def contributions(self, frame: pl.DataFrame) -> np.ndarray:
        """pred_contrib (TreeSHAP, log-odds; last column the bias) for the reasons."""
        return attribution.pred_contrib(self.booster, matrix(frame))


# --------------------------------------------------------------------------- rows


def read_outcomes(conn: psycopg.Connection) -> pl.DataFrame:
    """Every past cut-off's candidates with their features and outcome, in a fixed order
    (LightGBM's result depends on row order)."""
    select = feature_query(
        OUTCOMES, _KEYS, order_by=["user_id", CUTOFF, "track_key"], extra=HISTORY_FEATURES
    )
    with conn.transaction():
        if not seam.data(conn).columns(MARTS, OUTCOMES):
            log.warning(
                "marts.%s is missing (marts built before it existed: run dbt build); "
                "no past cut-offs to learn from",
                OUTCOMES,
            )
            return with_source_flags(pl.DataFrame(schema=dict(select.columns)))
        return with_source_flags(read_frame(conn, select))


def with_source_flags(frame: pl.DataFrame) -> pl.DataFrame:
    """source_<generator> = 1.0 when `candidate_sources` lists it."""
    sources = pl.col("candidate_sources").fill_null("").str.split(",")
    return frame.with_columns(
        sources.list.contains(source).cast(pl.Float64).alias(f"source_{source}")
        for source in SOURCES
    )


def matrix(frame: pl.DataFrame) -> np.ndarray:
    """ALL_FEATURES as float64 (NULL -> NaN), in order."""
    if "source_listened" not in frame.columns:
        frame = with_source_flags(frame)
    selected = frame.select(pl.col(name).cast(pl.Float64) for name in ALL_FEATURES)
    return selected.to_numpy(order="c").astype(np.float64, copy=False)


def sample_lists(frame: pl.DataFrame) -> pl.DataFrame:
    """At most MAX_LISTS_PER_CUTOFF listeners' lists per cut-off (the same listeners at every
    cut-off: the ones with the smallest hash)."""
    listeners = frame["user_id"].unique()
    if listeners.len() <= MAX_LISTS_PER_CUTOFF:
        return frame
    ranked = sorted(listeners.to_list(), key=lambda user: user_fold(user, 2**31))
    return frame.filter(pl.col("user_id").is_in(ranked[:MAX_LISTS_PER_CUTOFF]))


def list_weights(frame: pl.DataFrame) -> np.ndarray:
    """1 / (rows of the row's listener and cut-off), scaled to mean 1: every list weighs the
    same, as every listener does in the NDCG the lists are graded on."""
    sizes = frame.select(pl.len().over("user_id", CUTOFF)).to_series().to_numpy()
    weights = 1.0 / sizes.astype(np.float64)
    return weights / weights.mean()


def user_fold(user_id: str, folds: int) -> int:
    """A stable fold for a user (md5, not Python's salted hash)."""
    return int.from_bytes(hashlib.md5(user_id.encode()).digest()[:4], "big") % folds


def folds_of(frame: pl.DataFrame, folds: int) -> np.ndarray:
    return np.fromiter(
        (user_fold(user, folds) for user in frame["user_id"].to_list()),
        dtype=np.int64,
        count=frame.height,
    )


# --------------------------------------------------------------------------- fitting


def _dataset(frame: pl.DataFrame, reference: lgb.Dataset | None = None) -> lgb.Dataset:
    return lgb.Dataset(
        matrix(frame),
        label=frame[LABEL].to_numpy(),
        weight=list_weights(frame),
        feature_name=list(ALL_FEATURES),
        reference=reference,
        free_raw_data=False,
    )


def _early_stopped(
    fit_rows: pl.DataFrame, stop_rows: pl.DataFrame, params: dict[str, Any]
) -> tuple[lgb.Booster, int]:
    """The booster fitted on `fit_rows` and its number of trees that minimises the
    (list-weighted) log loss of `stop_rows`. Validation sets do not change the trees, so
    predicting with `num_iteration=rounds` equals a refit with that many rounds."""
    fit_set = _dataset(fit_rows)
    booster = lgb.train(
        params,
        fit_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[_dataset(stop_rows, fit_set)],
        valid_names=["stop"],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    return booster, max(1, booster.best_iteration or booster.current_iteration())


def _ndcg(frame: pl.DataFrame, scores: np.ndarray) -> float:
    """Mean NDCG@20 of the frame's (listener, cut-off) lists against their replays."""
    lists = frame.select(
        pl.concat_str("user_id", pl.col(CUTOFF).cast(pl.String), separator="@").alias("user_id"),
        "track_key",
        LABEL,
    ).with_columns(score=pl.Series(scores, dtype=pl.Float64))
    ranked = ranking.rank_lists(lists, "score", k=ranking.DEFAULT_K)
    relevant = lists.filter(pl.col(LABEL) == 1).select("user_id", "track_key")
    return float(ranking.list_metrics(ranked, relevant)[f"ndcg_at_{ranking.DEFAULT_K}"])


def search_params(frame: pl.DataFrame) -> dict[str, Any]:
    """The SEARCH_GRID entry whose model, fitted on cut-offs 3 and older, ranks cut-off 2
    best (NDCG@20); the first entry when those rows are too few to tell."""
    fit_rows = sample_lists(frame.filter(pl.col(CUTOFF) >= 3))
    check = frame.filter(pl.col(CUTOFF) == 2)
    results: list[dict[str, Any]] = []
    if fit_rows.height >= MIN_FIT_ROWS and _listeners_with_replays(check) >= MIN_HOLDOUT_LISTENERS:
        x_check = matrix(check)
        for entry in SEARCH_GRID:
            params = base_params() | entry
            booster, rounds = _early_stopped(fit_rows, check, params)
            predicted = booster.predict(x_check, num_iteration=rounds)
            assert isinstance(predicted, np.ndarray)  # dense input: dense output
            results.append(
                {"params": entry, "rounds": rounds, "ndcg_at_20": _ndcg(check, predicted)}
            )
    chosen = max(results, key=lambda r: r["ndcg_at_20"])["params"] if results else SEARCH_GRID[0]
    return {"params": base_params() | chosen, "search": results}


def _listeners_with_replays(frame: pl.DataFrame) -> int:
    return frame.filter(pl.col(LABEL) == 1)["user_id"].n_unique()


def fit(
    frame: pl.DataFrame, params: dict[str, Any] | None = None
) -> tuple[lgb.Booster, dict[str, Any]]:
    """The production list model from every cut-off of `frame`: trees by early stopping on
    cut-off 1 while fitting the older ones, then a refit on all. Raises NoListModel when the
    rows are too few or there is no real hold-out."""
    fit_rows = sample_lists(frame.filter(pl.col(CUTOFF) >= 2))
    holdout = frame.filter(pl.col(CUTOFF) == 1)
    if fit_rows.height < MIN_FIT_ROWS:
        raise NoListModel(
            f"{fit_rows.height} candidate rows at cut-offs 2 and older, fewer than {MIN_FIT_ROWS:,}"
        )
    if _listeners_with_replays(holdout) < MIN_HOLDOUT_LISTENERS:
        raise NoListModel(
            f"{_listeners_with_replays(holdout)} listeners with a replay at "
            f"cut-off 1, fewer than {MIN_HOLDOUT_LISTENERS} (no real hold-out)"
        )
    searched: dict[str, Any] = (
        search_params(frame) if params is None else {"params": params, "search": []}
    )
    chosen = searched["params"]
    early, rounds = _early_stopped(fit_rows, holdout, chosen)
    holdout_scores = early.predict(matrix(holdout), num_iteration=rounds)
    assert isinstance(holdout_scores, np.ndarray)  # dense input: dense output
    cutoffs = frame[CUTOFF].max()
    positive_rate = frame[LABEL].mean()
    assert isinstance(cutoffs, int) and isinstance(positive_rate, (int, float))
    metrics = {
        "rows": frame.height,
        "fit_rows": fit_rows.height,
        "holdout_rows": holdout.height,
        "holdout_listeners": holdout["user_id"].n_unique(),
        "cutoffs": int(cutoffs),
        "positive_rate": float(positive_rate),
        "rounds": rounds,
        "holdout_auc": _auc(holdout[LABEL].to_numpy(), holdout_scores),
        "holdout_ndcg_at_20": _ndcg(holdout, holdout_scores),
        "params": chosen,
        "search": searched["search"],
    }
    booster = lgb.train(chosen, _dataset(sample_lists(frame)), num_boost_round=rounds)
    return booster, metrics


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def cross_fitted_scores(
    frame: pl.DataFrame, params: dict[str, Any], *, grade_cutoff: int = 1, folds: int = 5
) -> pl.DataFrame:
    """Scores of the rows at `grade_cutoff`, each from a list model that never saw its
    listener's labels of that period: per fold of listeners, fitted on the older cut-offs
    of everyone and on `grade_cutoff` of the other folds (trees by early stopping on the
    latter). Columns user_id, track_key, list_model."""
    graded = frame.filter(pl.col(CUTOFF) == grade_cutoff)
    fold = folds_of(graded, folds)
    older = sample_lists(frame.filter(pl.col(CUTOFF) > grade_cutoff))
    others = {
        k: sample_lists(graded.filter(pl.Series(fold != k)))
        for k in range(folds)
        if (fold == k).any()
    }
    stopping = {k: rows for k, rows in others.items() if _listeners_with_replays(rows) >= 1}
    # every fold's early stopping fits the same trees on `older`: grow them once
    rounds = (
        dict(
            zip(
                stopping,
                _early_stopping_rounds(older, list(stopping.values()), params),
                strict=True,
            )
        )
        if older.height and stopping
        else {}
    )
    parts = []
    for k, other_rows in others.items():
        mine = graded.filter(pl.Series(fold == k))
        booster = lgb.train(
            params, _dataset(pl.concat([older, other_rows])), num_boost_round=rounds.get(k, 100)
        )
        parts.append(
            mine.select("user_id", "track_key").with_columns(
                list_model=pl.Series(booster.predict(matrix(mine)), dtype=pl.Float64)
            )
        )
    return (
        pl.concat(parts)
        if parts
        else pl.DataFrame(
            schema={"user_id": pl.String, "track_key": pl.String, "list_model": pl.Float64}
        )
    )


def cross_fitted_for(
    graded: pl.DataFrame, frame: pl.DataFrame, params: dict[str, Any], *, grade_cutoff: int
) -> np.ndarray:
    """cross_fitted_scores of `frame` at `grade_cutoff`, one per row of `graded` (matched on
    user_id and track_key; 0.0 for a row it did not score)."""
    crossed = cross_fitted_scores(frame, params, grade_cutoff=grade_cutoff)
    return (
        graded.select("user_id", "track_key")
        .join(crossed, on=["user_id", "track_key"], how="left", maintain_order="left")["list_model"]
        .fill_null(0.0)
        .to_numpy()
    )


def _early_stopping_rounds(
    fit_rows: pl.DataFrame, stop_sets: list[pl.DataFrame], params: dict[str, Any]
) -> list[int]:
    """For each of `stop_sets`, the trees `_early_stopped(fit_rows, stop_set, params)` keeps,
    from one booster grown on `fit_rows` until every stop set has stopped improving
    (validation sets do not change the trees)."""
    (metric,) = params["metric"]
    fit_set = _dataset(fit_rows)
    names = [f"stop_{i}" for i in range(len(stop_sets))]
    curves: dict[str, dict[str, list[float]]] = {}

    def until_all_stopped(env: Any) -> None:
        if all(_stopping_round(curves[name][metric]) is not None for name in names):
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    until_all_stopped.order = 30  # type: ignore[attr-defined]  # after record_evaluation
    lgb.train(
        params,
        fit_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[_dataset(rows, fit_set) for rows in stop_sets],
        valid_names=names,
        callbacks=[lgb.record_evaluation(curves), until_all_stopped],
    )
    return [_stopping_round(curves[name][metric], final=True) or 1 for name in names]


def _stopping_round(curve: list[float], *, final: bool = False) -> int | None:
    """The trees lightgbm's early_stopping callback keeps for this (lower is better) curve:
    the best round once EARLY_STOPPING_ROUNDS rounds have not improved on it; None while
    they have not (or the best round so far when `final`)."""
    best, best_round = float("inf"), 0
    for round_, value in enumerate(curve):
        if value < best:
            best, best_round = value, round_
        elif round_ - best_round >= EARLY_STOPPING_ROUNDS:
            return best_round + 1
    return best_round + 1 if final and curve else None


# --------------------------------------------------------------------------- persistence


def save(folder: Path, booster: lgb.Booster, sidecar: dict[str, Any]) -> Path:
    """Write the model and its sidecar, and compile it for this machine (ml.compiled), so
    that scoring loads the object code instead of compiling it."""
    (folder / MODEL_FILE).write_text(booster.model_to_string(), encoding="utf-8")
    write_sidecar(folder, sidecar)
    _compiled(folder / MODEL_FILE)
    return folder / MODEL_FILE


def _compiled(path: Path) -> compiled.CompiledModel | None:
    """The compiled model file, or None (then Booster.predict scores: the same numbers,
    slower) when it cannot be compiled here."""
    try:
        return compiled.load(path, threads=get_settings().encore_lightgbm_threads)
    except Exception as error:  # any failure leaves Booster.predict
        log.warning("list model %s not compiled (%s): Booster.predict scores", path, error)
        return None


def write_sidecar(folder: Path, sidecar: dict[str, Any]) -> None:
    (folder / SIDECAR_FILE).write_text(json.dumps(sidecar, indent=2, default=str), encoding="utf-8")


def read_sidecar(folder: Path) -> dict[str, Any] | None:
    path = folder / SIDECAR_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def load(folder: Path) -> ListModel | None:
    """The list model saved beside a repeat model, or None (the fallback ranks)."""
    path = folder / MODEL_FILE
    sidecar = read_sidecar(folder)
    if not path.exists() or sidecar is None:
        return None
    if sidecar.get("features") != list(ALL_FEATURES):
        log.warning("list model in %s was trained on other features: not used", folder)
        return None
    return ListModel(
        booster=lgb.Booster(model_file=str(path)), sidecar=sidecar, native=_compiled(path)
    )


# --------------------------------------------------------------------------- the job


def fit_list_model(
    conn: psycopg.Connection, *, folder: Path, frame: pl.DataFrame | None = None
) -> dict[str, Any]:
    """Fit the list model of the module docstring and save it in `folder` (the repeat
    model's), or record why there is none. Returns the sidecar written."""
    started = time.perf_counter()
    frame = read_outcomes(conn) if frame is None else frame
    sidecar: dict[str, Any] = {"features": list(ALL_FEATURES), "rows": frame.height}
    try:
        booster, metrics = fit(frame)
    except NoListModel as reason:
        sidecar |= {
            "used": False,
            "reason": str(reason),
            "seconds": round(time.perf_counter() - started, 1),
        }
        write_sidecar(folder, sidecar)
        log.warning("list model not used: %s", reason)
        return sidecar
    sidecar |= {
        "used": True,
        "metrics": metrics,
        "feature_importance_gain": dict(
            zip(ALL_FEATURES, booster.feature_importance("gain").tolist(), strict=True)
        ),
        "seconds": round(time.perf_counter() - started, 1),
    }
    save(folder, booster, sidecar)
    log.info(
        "list model: %d rows over %d cut-offs, hold-out (cut-off 1) AUC %s NDCG@20 %.4f, "
        "%d trees, %.0f s",
        frame.height,
        metrics["cutoffs"],
        metrics["holdout_auc"],
        metrics["holdout_ndcg_at_20"],
        metrics["rounds"],
        sidecar["seconds"],
    )
    return sidecar
