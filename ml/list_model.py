"""The list model: ranks each user's candidates by the probability that they play the track
again within 30 days of the data's end: the question the published lists are graded on.

Why a second model. The repeat model (ml.train) learns the DESIGN.md label, which belongs to
*first* plays: its training rows never contain a track the user already plays often. But a
user's best candidates at scoring time are mostly such tracks, and the backtest showed "the
user's most played tracks of the last 30 days" ranking the lists twice as well as the
repeat model (docs/model.md). The list model learns from exactly the rows it will rank.

How it learns (`fit_list_model`). Cut-off T = the data's end minus the horizon (30 days).
The backtest's scratch warehouse as of T (`ml.backtest.scratch_warehouse`: raw plays before
T, the same dbt build) gives the candidates of T with their features as of T, and a repeat
model trained there on data before T gives each candidate its `repeat_score`. A candidate's
label is the repeat label seen from T: the user plays the track in (T, T + horizon] and it
is a repeat: they had played it before T, or they play it at least twice in the window.
LightGBM (binary) learns it from the repeat model's features plus `LIST_FEATURES`: the
user's own history with the track as of T, the repeat score and which generators proposed
the pair. It is saved beside the repeat model it was trained with (`list_model.txt` in the
model's folder); `ml.score` then scores each candidate of the data's end with it, the
production repeat model giving `repeat_score`. Without enough history (less than a horizon
before the data's end, or no candidate at T) there is no list model and the repeat model's
probability ranks the lists, as before.

The backtest grades it honestly with two-fold cross-fitting by user: each user's list is
ranked by a list model trained on the other half of the users (`cross_fitted_scores`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from ml import ranking
from ml.db import read_frame
from ml.features import CATEGORICAL_FEATURES, FEATURES, Vocabulary, to_matrix

log = logging.getLogger(__name__)

MODEL_FILE = "list_model.txt"
SIDECAR_FILE = "list_model.json"
HORIZON_DAYS = 30
RECENT_DAYS = 30
SOURCES: tuple[str, ...] = ("listened", "co_listened", "content", "popular_in_genre", "popular")
HISTORY_FEATURES: tuple[str, ...] = (
    "user_track_prior_plays",
    "user_track_plays_30d",
    "user_track_days_since_last_play",
)
LIST_FEATURES: tuple[str, ...] = (
    "repeat_score",
    *HISTORY_FEATURES,
    *(f"source_{source}" for source in SOURCES),
)
ALL_FEATURES: tuple[str, ...] = FEATURES + LIST_FEATURES
LABEL = "replayed"
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": ["auc", "binary_logloss"],
    "learning_rate": 0.1,
    "num_leaves": 31,
    "max_depth": 8,  # shallow trees also keep pred_contrib (the reasons) cheap
    "min_data_in_leaf": 50,
    "feature_fraction": 0.9,
    "lambda_l2": 1.0,
    "seed": 7,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "verbose": -1,
}
NUM_BOOST_ROUND = 200
EARLY_STOPPING_ROUNDS = 30
VALID_SHARE = 0.2  # of the users: early stopping's hold-out

# The user's own history with each candidate track as of the candidates' as_of (the
# latest play of the warehouse), from marts.fct_plays.
_HISTORY_QUERY = """
    with candidates as (
        select user_id, track_key, candidate_sources, as_of
        from marts.fct_candidate_features
        {where}
    ),
    as_of as (
        select max(as_of) as as_of from marts.fct_candidate_features
    ),
    pairs as (
        select p.user_id, p.track_key,
               count(*) as prior_plays,
               count(*) filter (where p.played_at > a.as_of - make_interval(days => %s))
                   as recent_plays,
               max(p.played_at) as last_played_at
        from marts.fct_plays p
        cross join as_of a
        where p.played_at <= a.as_of
          and p.user_id in (select user_id from candidates)
        group by p.user_id, p.track_key
    )
    select c.user_id, c.track_key, c.candidate_sources,
           coalesce(pairs.prior_plays, 0)::double precision as user_track_prior_plays,
           coalesce(pairs.recent_plays, 0)::double precision as user_track_plays_30d,
           (extract(epoch from a.as_of - pairs.last_played_at) / 86400.0)::double precision
               as user_track_days_since_last_play
    from candidates c
    cross join as_of a
    left join pairs on pairs.user_id = c.user_id and pairs.track_key = c.track_key
"""
_HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(), "track_key": pl.String(), "candidate_sources": pl.String(),
    **{name: pl.Float64() for name in HISTORY_FEATURES},
}


@dataclass(frozen=True)
class ListModel:
    """A fitted list model and what it needs to score (the repeat model's vocabulary)."""

    booster: lgb.Booster
    vocabulary: Vocabulary
    sidecar: dict[str, Any]

    @property
    def features(self) -> list[str]:
        return list(ALL_FEATURES)

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """P(replayed) for rows carrying FEATURES and LIST_FEATURES."""
        return self.booster.predict(matrix(frame, self.vocabulary))

    def contributions(self, frame: pl.DataFrame) -> np.ndarray:
        """pred_contrib (TreeSHAP, log-odds; last column the bias) for the reasons."""
        return self.booster.predict(matrix(frame, self.vocabulary), pred_contrib=True)


# --------------------------------------------------------------------------- features


def read_history(conn: psycopg.Connection, where: sql.Composable | None = None
                 ) -> pl.DataFrame:
    """Per candidate of marts.fct_candidate_features (those matching `where`, a condition on
    its columns, e.g. a scoring shard's users): HISTORY_FEATURES and the source flags."""
    query = sql.SQL(_HISTORY_QUERY).format(  # type: ignore[arg-type]
        where=sql.SQL("") if where is None else sql.SQL("where {}").format(where))
    frame = read_frame(conn, query, _HISTORY_SCHEMA, [RECENT_DAYS])
    return with_source_flags(frame).drop("candidate_sources")


def with_source_flags(frame: pl.DataFrame) -> pl.DataFrame:
    """source_<generator> = 1.0 when `candidate_sources` lists it."""
    sources = pl.col("candidate_sources").fill_null("").str.split(",")
    return frame.with_columns(
        sources.list.contains(source).cast(pl.Float64).alias(f"source_{source}")
        for source in SOURCES
    )


def matrix(frame: pl.DataFrame, vocabulary: Vocabulary) -> np.ndarray:
    """The repeat model's matrix (ml.features) with LIST_FEATURES appended."""
    extra = frame.select(pl.col(name).cast(pl.Float64) for name in LIST_FEATURES)
    return np.hstack([to_matrix(frame, vocabulary),
                      extra.to_numpy(order="c").astype(np.float64, copy=False)])


def labels(relevant: pl.DataFrame, relevant_two: pl.DataFrame) -> pl.DataFrame:
    """(user_id, track_key) pairs replayed in the horizon: a repeat of a track played
    before the cut-off, or a track played at least twice in it (ml.backtest.relevant_pairs)."""
    return pl.concat([relevant.select("user_id", "track_key"),
                      relevant_two.select("user_id", "track_key")]).unique()


def with_labels(candidates: pl.DataFrame, replayed: pl.DataFrame) -> pl.DataFrame:
    return candidates.join(replayed.with_columns(pl.lit(1.0).alias(LABEL)),
                           on=["user_id", "track_key"], how="left").with_columns(
        pl.col(LABEL).fill_null(0.0))


def training_frame(candidates: pl.DataFrame, repeat_model: lgb.Booster, best_iteration: int,
                   vocabulary: Vocabulary, relevant: pl.DataFrame,
                   relevant_two: pl.DataFrame) -> pl.DataFrame:
    """Candidates of a cut-off with `repeat_score` (the repeat model trained before it) and
    LABEL (from the pairs replayed after it, ml.backtest.relevant_pairs): what `fit` and
    `cross_fitted_scores` learn from."""
    frame = candidates.with_columns(repeat_score=pl.Series(
        repeat_model.predict(to_matrix(candidates, vocabulary), num_iteration=best_iteration),
        dtype=pl.Float64))
    return with_labels(frame, labels(relevant, relevant_two))


def user_fold(user_id: str, folds: int) -> int:
    """A stable fold for a user (md5, not Python's salted hash)."""
    return int.from_bytes(hashlib.md5(user_id.encode()).digest()[:4], "big") % folds


def _folds(frame: pl.DataFrame, folds: int) -> np.ndarray:
    return np.fromiter((user_fold(user, folds) for user in frame["user_id"].to_list()),
                       dtype=np.int64, count=frame.height)


# --------------------------------------------------------------------------- fitting


def fit(frame: pl.DataFrame, vocabulary: Vocabulary) -> tuple[lgb.Booster, dict[str, Any]]:
    """Fit on labelled candidate rows (FEATURES, LIST_FEATURES, LABEL); a fifth of the users
    hold out for early stopping and the metrics. Returns the booster (at its best
    iteration) and the hold-out metrics."""
    if frame.height == 0 or frame[LABEL].sum() == 0:
        raise ValueError("no replayed candidate to learn from")
    holdout = _folds(frame, 5) == 0
    if holdout.all() or not holdout.any():
        holdout = np.zeros(frame.height, dtype=bool)
    x = matrix(frame, vocabulary)
    y = frame[LABEL].to_numpy()
    names = list(ALL_FEATURES)
    train_set = lgb.Dataset(x[~holdout], label=y[~holdout], feature_name=names,
                            categorical_feature=list(CATEGORICAL_FEATURES))
    metrics: dict[str, Any] = {"train_rows": int((~holdout).sum()),
                               "holdout_rows": int(holdout.sum()),
                               "positive_rate": float(y.mean())}
    if holdout.any() and 0 < y[holdout].sum() < holdout.sum():
        valid_set = lgb.Dataset(x[holdout], label=y[holdout], reference=train_set)
        booster = lgb.train(PARAMS, train_set, num_boost_round=NUM_BOOST_ROUND,
                            valid_sets=[valid_set], valid_names=["holdout"],
                            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS,
                                                          first_metric_only=True,
                                                          verbose=False)])
        best = booster.best_iteration or booster.current_iteration()
        held = frame.filter(pl.Series(holdout)).select("user_id", "track_key", LABEL)
        held = held.with_columns(score=pl.Series(booster.predict(x[holdout], num_iteration=best)))
        metrics |= _holdout_metrics(held)
    else:
        booster = lgb.train(PARAMS, train_set, num_boost_round=100)
        best = booster.current_iteration()
    metrics["best_iteration"] = int(best)
    # Keep only the best iteration's trees (what is saved is what was measured).
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best)), metrics


def _holdout_metrics(held: pl.DataFrame) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    y = held[LABEL].to_numpy()
    ranked = ranking.rank_lists(held, "score")
    relevant = held.filter(pl.col(LABEL) == 1).select("user_id", "track_key")
    lists = ranking.list_metrics(ranked, relevant)
    return {"holdout_auc": float(roc_auc_score(y, held["score"].to_numpy())),
            "holdout_recall_at_20": lists[f"recall_at_{ranking.DEFAULT_K}"],
            "holdout_ndcg_at_20": lists[f"ndcg_at_{ranking.DEFAULT_K}"]}


def cross_fitted_scores(frame: pl.DataFrame, vocabulary: Vocabulary,
                        folds: int = 2) -> np.ndarray:
    """Each row's score from a list model fitted on the users of the other folds."""
    fold = _folds(frame, folds)
    scores = np.full(frame.height, np.nan)
    for k in range(folds):
        mask = fold == k
        if not mask.any():
            continue
        booster, _ = fit(frame.filter(pl.Series(~mask)), vocabulary)
        scores[mask] = booster.predict(matrix(frame.filter(pl.Series(mask)), vocabulary))
    return scores


# --------------------------------------------------------------------------- persistence


def save(folder: Path, booster: lgb.Booster, sidecar: dict[str, Any]) -> Path:
    (folder / MODEL_FILE).write_text(booster.model_to_string(), encoding="utf-8")
    (folder / SIDECAR_FILE).write_text(json.dumps(sidecar, indent=2, default=str),
                                       encoding="utf-8")
    return folder / MODEL_FILE


def load(folder: Path, vocabulary: Vocabulary) -> ListModel | None:
    """The list model saved beside a repeat model, or None (ranked by the repeat model)."""
    path = folder / MODEL_FILE
    if not path.exists():
        return None
    sidecar = json.loads((folder / SIDECAR_FILE).read_text(encoding="utf-8"))
    if sidecar.get("features") != list(ALL_FEATURES):
        log.warning("list model in %s was trained on other features: not used", folder)
        return None
    return ListModel(booster=lgb.Booster(model_file=str(path)), vocabulary=vocabulary,
                     sidecar=sidecar)


# --------------------------------------------------------------------------- the job


def fit_list_model(
    conn: psycopg.Connection,
    *,
    folder: Path,
    vocabulary: Vocabulary,
    work_dir: Path,
    horizon_days: int = HORIZON_DAYS,
    validation_days: int = 30,
) -> dict[str, Any] | None:
    """Fit the list model of the module docstring and save it in `folder` (the repeat
    model's). Returns its sidecar, or None when the data is too short to have one."""
    from ml.backtest import read_candidates_with_history, relevant_pairs, scratch_warehouse
    from ml.train import fit_and_register

    started = time.perf_counter()
    with conn.transaction():
        bounds = conn.execute("select min(played_at), max(played_at) from marts.fct_plays"
                              ).fetchone()
    if bounds is None or bounds[0] is None:
        return None
    first, end = bounds
    cutoff = end - timedelta(days=horizon_days)
    span_days = (cutoff - first).days
    if span_days < 2 * horizon_days:
        log.info("list model skipped: %d days of history before %s, it needs %d",
                 span_days, cutoff, 2 * horizon_days)
        return None
    # The repeat model before the cut-off sees a history shorter by the horizon: its users'
    # labelled first plays span span_days - horizon_days, which the validation must not eat.
    scratch_validation_days = max(7, min(validation_days, (span_days - horizon_days) // 4))
    scratch_info: dict[str, Any] = {}
    try:
        with scratch_warehouse(conn, cutoff, {}, work_dir, timings=scratch_info) as url, \
                psycopg.connect(url) as scratch:
            scratch_model = fit_and_register(scratch, artifacts_dir=work_dir / "models",
                                             validation_days=scratch_validation_days,
                                             report=False)
            candidates = read_candidates_with_history(scratch)
    except ValueError as too_little:  # no labelled pairs / no candidates before the cut-off
        log.warning("list model skipped: %s", too_little)
        return None
    with conn.transaction():
        relevant, relevant_two = relevant_pairs(conn, cutoff, horizon_days, {})
    frame = training_frame(candidates, scratch_model.booster, scratch_model.best_iteration,
                           scratch_model.vocabulary, relevant, relevant_two)
    try:
        booster, metrics = fit(frame, vocabulary)
    except ValueError as nothing:
        log.warning("list model skipped: %s", nothing)
        return None
    sidecar = {
        "features": list(ALL_FEATURES),
        "cutoff": cutoff.isoformat(),
        "horizon_days": horizon_days,
        "candidates": frame.height,
        "scratch_repeat_model": scratch_model.run.model_version,
        "scratch_database": scratch_info["scratch_database"],
        "scratch_seconds": {key: round(value, 1) for key, value in scratch_info.items()
                            if key.endswith("_seconds")},
        "params": PARAMS,
        "metrics": metrics,
        "feature_importance_gain": dict(zip(
            ALL_FEATURES, booster.feature_importance("gain").tolist(), strict=True)),
        "seconds": round(time.perf_counter() - started, 1),
    }
    save(folder, booster, sidecar)
    log.info("list model: %d candidates as of %s, hold-out %s, %.0f s", frame.height, cutoff,
             {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)},
             sidecar["seconds"])
    return sidecar
