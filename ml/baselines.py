"""The baselines every model run is measured against, on the same validation rows.

- `track_repeat_rate`: the track's cross-user repeat rate (`track_prior_repeat_rate`; NULL →
  the training positive rate). A probability: AUC, per-user AUC and log loss.
- `user_repeat_rate`: the user's own historical repeat rate (`user_prior_repeat_rate`; NULL →
  the training positive rate). A probability, but nearly constant within a user, so its
  per-user AUC and lists are close to chance: it shows what pooled AUC alone hides.
- `user_artist_repeat_rate`: the user's repeat rate on the artist's tracks, smoothed toward
  their own and everyone's (`user_artist_repeat_rate_smoothed`; NULL → the user's smoothed
  rate). A probability; the strongest single feature on real histories.
- `popularity`: the track's prior plays by anyone (`track_prior_plays`). A ranking score only
  (no log loss).
- `user_artist_plays`: the user's prior plays of the artist (`user_artist_prior_plays`). A
  ranking score only.
- `logistic_regression`: scikit-learn's LogisticRegression on the model's own features:
  numeric features log1p-compressed when they are counts, median-imputed with missing-value
  indicators and standardised; categoricals one-hot (rare values pooled, unknown ignored).
  Fitted on the training rows (at most `LOGREG_MAX_ROWS`, a fixed-seed sample), a
  probability: every metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ml import metrics, ranking
from ml.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES

LOGREG_MAX_ROWS = 300_000
LOGREG_SEED = 20240611
PREDICT_BATCH_ROWS = 200_000
_COUNT_FEATURES = tuple(
    name
    for name in NUMERIC_FEATURES
    if name.endswith(
        (
            "_plays",
            "_tracks",
            "_pairs",
            "_listeners",
            "_7d",
            "_28d",
            "_30d",
            "_ms",
            "_play",
            "_last_play",
            "_elapsed",
        )
    )
)
_MISSING_CATEGORY = "(missing)"

PROBABILITY_BASELINES = (
    "track_repeat_rate",
    "user_repeat_rate",
    "user_artist_repeat_rate",
    "logistic_regression",
)
RANKING_ONLY_BASELINES = ("popularity", "user_artist_plays")
BASELINES = (
    "track_repeat_rate",
    "user_repeat_rate",
    "user_artist_repeat_rate",
    "popularity",
    "user_artist_plays",
    "logistic_regression",
)


@dataclass
class LogisticBaseline:
    """A fitted logistic regression with its preprocessing."""

    imputer: SimpleImputer
    scaler: StandardScaler
    encoder: OneHotEncoder
    model: LogisticRegression

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """P(repeat) for each row of `frame` (feature columns as read by ml.db), in batches
        of PREDICT_BATCH_ROWS rows: each row's design (dense, then sparse, with an indicator
        per imputed column) takes several times its size in the frame."""
        if frame.height <= PREDICT_BATCH_ROWS:
            return self.model.predict_proba(self._design(frame, fit=False))[:, 1]
        return np.concatenate(
            [
                self.model.predict_proba(self._design(batch, fit=False))[:, 1]
                for batch in frame.iter_slices(PREDICT_BATCH_ROWS)
            ]
        )

    def _design(self, frame: pl.DataFrame, *, fit: bool) -> sp.csr_matrix:
        numeric = _numeric(frame)
        categorical = frame.select(
            pl.col(name).cast(pl.String).fill_null(_MISSING_CATEGORY)
            for name in CATEGORICAL_FEATURES
        ).to_numpy()
        if fit:
            numeric = self.scaler.fit_transform(self.imputer.fit_transform(numeric))
            encoded = self.encoder.fit_transform(categorical)
        else:
            numeric = self.scaler.transform(self.imputer.transform(numeric))
            encoded = self.encoder.transform(categorical)
        return sp.hstack([sp.csr_matrix(numeric), encoded], format="csr")


def fit_logistic(train: pl.DataFrame, labels: np.ndarray) -> LogisticBaseline:
    """Fit the logistic-regression baseline on (a fixed-seed sample of) the training rows."""
    if train.height > LOGREG_MAX_ROWS:
        rows = np.sort(
            np.random.default_rng(LOGREG_SEED).choice(train.height, LOGREG_MAX_ROWS, replace=False)
        )
        train, labels = train[rows], labels[rows]
    baseline = LogisticBaseline(
        imputer=SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        scaler=StandardScaler(),
        encoder=OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=50,
            max_categories=40,
            sparse_output=True,
        ),
        model=LogisticRegression(C=1.0, max_iter=500, tol=1e-4),
    )
    baseline.model.fit(baseline._design(train, fit=True), labels)
    return baseline


def baseline_scores(
    frame: pl.DataFrame, positive_rate: float, logistic: LogisticBaseline | None
) -> dict[str, np.ndarray]:
    """Every baseline's score for each row of `frame` (validation rows or candidates)."""
    scores = {
        "track_repeat_rate": frame["track_prior_repeat_rate"].fill_null(positive_rate),
        "user_repeat_rate": frame["user_prior_repeat_rate"].fill_null(positive_rate),
        "user_artist_repeat_rate": frame["user_artist_repeat_rate_smoothed"]
        .fill_null(frame["user_repeat_rate_smoothed"])
        .fill_null(positive_rate),
        "popularity": frame["track_prior_plays"].fill_null(0.0),
        "user_artist_plays": frame["user_artist_prior_plays"].fill_null(0.0),
    }
    result = {name: values.cast(pl.Float64).to_numpy() for name, values in scores.items()}
    if logistic is not None:
        result["logistic_regression"] = logistic.predict(frame)
    return result


def evaluate_scores(
    users: np.ndarray,
    items: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    probability: bool,
    k: int = ranking.DEFAULT_K,
) -> dict[str, Any]:
    """AUC, per-user AUC (and its user count), log loss (probabilities only, else None) and
    the validation-level recall@k / NDCG@k of one set of scores."""
    user_auc, user_auc_users = metrics.mean_user_auc(users, labels, scores)
    lists = ranking.validation_list_metrics(users, items, labels, scores, k=k)
    return {
        "auc": metrics.auc(labels, scores),
        "user_auc": user_auc,
        "user_auc_users": user_auc_users,
        "log_loss": metrics.log_loss(labels, scores) if probability else None,
        f"recall_at_{k}": lists[f"recall_at_{k}"],
        f"ndcg_at_{k}": lists[f"ndcg_at_{k}"],
        "list_users": lists["users"],
    }


def evaluate_baselines(
    users: np.ndarray,
    items: np.ndarray,
    labels: np.ndarray,
    scores: Mapping[str, np.ndarray],
    *,
    k: int = ranking.DEFAULT_K,
) -> dict[str, dict[str, Any]]:
    """`evaluate_scores` for each baseline in `scores`."""
    return {
        name: evaluate_scores(
            users, items, labels, values, probability=name in PROBABILITY_BASELINES, k=k
        )
        for name, values in scores.items()
    }


def _numeric(frame: pl.DataFrame) -> np.ndarray:
    columns = [
        pl.col(name).cast(pl.Float64).clip(lower_bound=0.0).log1p()
        if name in _COUNT_FEATURES
        else pl.col(name).cast(pl.Float64)
        for name in NUMERIC_FEATURES
    ]
    values = frame.select(columns).to_numpy().astype(np.float64, copy=False)
    return np.where(np.isfinite(values), values, np.nan)
