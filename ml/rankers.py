"""The rankings a published list can take, and the choice between them (docs/model.md,
"Which ranking is published").

- `list_model`: the list model's probability (ml.list_model).
- The recency rules, which need no training: `recent_plays` (the listener's plays of the
  track in the 30 days up to their clock, ties by popularity: the baseline DESIGN.md names)
  and `recency_weighted_30d`, `recency_weighted_90d`, `recency_weighted` (plays weighted by
  exp(-age / 30 or 90 days), and the sum of the two: a month's and a quarter's recency).
- `repeat_model`: the repeat model's probability, when there is nothing else (no past
  cut-off to learn or choose from).

The choice is made on the cut-offs before the one the backtest grades: on cut-offs 2 and 3
(each listener's clock minus 60 and 90 days) the list model, cross-fitted by listener, and
every rule rank the candidates; the best mean NDCG@20 wins and ranks the published lists.
Cut-off 1 then grades that choice honestly (ml.backtest). A rule's score is made a probability by an
isotonic calibration on the past cut-offs' outcomes, with the rule itself breaking ties, so
the published `score` stays a probability and the ranks follow the rule.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ml import list_model, ranking

log = logging.getLogger(__name__)

CHOICE_FILE = "ranking.json"
CHOICE_CUTOFFS = (2, 3)
RECENT_PLAYS = "recent_plays"
LIST_MODEL = "list_model"
REPEAT_MODEL = "repeat_model"
DEFAULT_RULE = "recency_weighted"


def _popularity_tiebreak() -> pl.Expr:
    """Popularity mapped into [0, 1) (the same map for every row, however the candidates
    are batched): it only ever breaks ties."""
    popularity = pl.col("track_prior_plays").fill_null(0.0).cast(pl.Float64).clip(0.0)
    return popularity / (popularity + 1.0)


RULES: dict[str, Callable[[], pl.Expr]] = {
    RECENT_PLAYS: lambda: pl.col("user_track_plays_30d").fill_null(0.0).cast(pl.Float64),
    "recency_weighted_30d": lambda: pl.col("user_track_plays_decayed_30d").fill_null(0.0),
    "recency_weighted_90d": lambda: pl.col("user_track_plays_decayed_90d").fill_null(0.0),
    DEFAULT_RULE: lambda: (
        pl.col("user_track_plays_decayed_30d").fill_null(0.0)
        + pl.col("user_track_plays_decayed_90d").fill_null(0.0)
    ),
}
"""Each rule's score (ties broken by popularity, see `rule_scores`)."""


def rule_scores(frame: pl.DataFrame, name: str) -> np.ndarray:
    """A rule's raw score of each row: the rule, then popularity for ties (< 1e-3)."""
    expression = RULES[name]().cast(pl.Float64) + _popularity_tiebreak() * 1e-3
    return frame.select(expression).to_series().to_numpy()


def repeat_relevant(frame: pl.DataFrame) -> pl.DataFrame:
    """The candidates that were repeats replayed within 30 days of the cut-off (played by
    as_of and after it): the backtest's relevance."""
    return frame.filter(
        (pl.col(list_model.LABEL) == 1) & (pl.col("user_track_prior_plays") > 0)
    ).select("user_id", "track_key")


def ndcg(frame: pl.DataFrame, scores: np.ndarray) -> float:
    """Mean NDCG@20 of the rows' lists (one per listener) against their repeats."""
    scored = frame.select("user_id", "track_key").with_columns(
        score=pl.Series(scores, dtype=pl.Float64)
    )
    ranked = ranking.rank_lists(scored, "score", k=ranking.DEFAULT_K)
    return float(
        ranking.list_metrics(ranked, repeat_relevant(frame))[f"ndcg_at_{ranking.DEFAULT_K}"]
    )


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Calibration:
    """A monotone map from a rule's raw score to P(replayed), fitted on past outcomes."""

    x: list[float]
    y: list[float]

    @classmethod
    def fit(cls, raw: np.ndarray, labels: np.ndarray) -> Calibration:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(raw, labels)
        return cls(x=[float(v) for v in iso.X_thresholds_], y=[float(v) for v in iso.y_thresholds_])

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """The calibrated probability, plus a vanishing share of the raw score so that ties
        of the calibration keep the rule's order (the published ranks follow the rule)."""
        probability = np.interp(raw, self.x, self.y)
        spread = np.maximum(np.asarray(raw, dtype=np.float64), 0.0)
        return np.clip(probability + 1e-9 * spread / (1.0 + spread), 0.0, 1.0)


# --------------------------------------------------------------------------- the choice


def choose(frame: pl.DataFrame, *, list_params: dict[str, Any] | None) -> dict[str, Any]:
    """Which ranking to publish (the module docstring), from the past cut-offs' candidates
    (`frame`: ml.list_model.read_outcomes). `list_params`: the list model's params, None
    when there is no list model. Returns the choice: `ranker`, every contender's mean
    NDCG@20 over the CHOICE_CUTOFFS that can be graded, and the rule calibration when a
    rule won."""
    if frame.height == 0:
        return {"ranker": REPEAT_MODEL, "reason": "no past cut-off to choose on", "contenders": {}}
    per_cutoff: dict[str, list[float]] = {}
    used: list[int] = []
    for cutoff in CHOICE_CUTOFFS:
        graded = frame.filter(pl.col(list_model.CUTOFF) == cutoff)
        if repeat_relevant(graded)["user_id"].n_unique() < list_model.MIN_HOLDOUT_LISTENERS:
            continue
        used.append(cutoff)
        for name in RULES:
            per_cutoff.setdefault(name, []).append(ndcg(graded, rule_scores(graded, name)))
        if list_params is not None:
            scored = list_model.cross_fitted_for(graded, frame, list_params, grade_cutoff=cutoff)
            per_cutoff.setdefault(LIST_MODEL, []).append(ndcg(graded, scored))
    contenders = {name: float(np.mean(values)) for name, values in per_cutoff.items()}
    if contenders:
        ranker = max(contenders, key=lambda name: contenders[name])
        reason = f"best mean NDCG@20 at cut-offs {', '.join(map(str, used))}"
    else:
        ranker = LIST_MODEL if list_params is not None else DEFAULT_RULE
        reason = (
            f"too few listeners with a repeat at cut-offs {CHOICE_CUTOFFS} to choose on, "
            f"so the {'list model' if list_params else DEFAULT_RULE} ranks"
        )
    choice: dict[str, Any] = {
        "ranker": ranker,
        "reason": reason,
        "contenders": contenders,
        "choice_cutoffs": used,
    }
    if ranker in RULES:
        labels = frame[list_model.LABEL].to_numpy()
        choice["calibration"] = Calibration.fit(rule_scores(frame, ranker), labels).__dict__
    log.info(
        "published ranking: %s (%s: %s)",
        ranker,
        reason,
        {name: round(value, 4) for name, value in contenders.items()},
    )
    return choice


def save_choice(folder: Path, choice: dict[str, Any]) -> None:
    (folder / CHOICE_FILE).write_text(json.dumps(choice, indent=2, default=str), encoding="utf-8")


def load_choice(folder: Path) -> dict[str, Any]:
    """The saved choice; a model folder from before choices ranks by its list model when it
    has one, else by the repeat model."""
    path = folder / CHOICE_FILE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    ranker = LIST_MODEL if (folder / list_model.MODEL_FILE).exists() else REPEAT_MODEL
    return {"ranker": ranker, "reason": "saved before ranking choices", "contenders": {}}


def rule_probability(frame: pl.DataFrame, choice: dict[str, Any]) -> np.ndarray:
    """The published score of a rule ranking: its calibrated probability."""
    calibration = Calibration(**choice["calibration"])
    return calibration.apply(rule_scores(frame, choice["ranker"]))


RULE_REASONS: tuple[tuple[str, float], ...] = (
    ("user_track_plays_30d", 0.5),
    ("user_track_prior_plays", 0.4),
    ("user_track_days_since_last_play", 0.3),
    *((f"source_{source}", 0.2) for source in list_model.SOURCES if source != "listened"),
)
"""What a rule's reasons say, strongest first (ml.score renders the first sayable ones)."""


def rule_columns(name: str) -> frozenset[str]:
    """The columns a rule's score and its reasons read."""
    expression = RULES[name]() + _popularity_tiebreak()
    return frozenset(expression.meta.root_names()) | {feature for feature, _ in RULE_REASONS}


def rule_contributions(frame: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """Reason "contributions" for rows ranked by a rule: fixed weights, so the sentence is
    the listener's own history with the track when there is one, else its generator."""
    names = [name for name, _ in RULE_REASONS]
    weights = np.array([weight for _, weight in RULE_REASONS])
    return names, np.tile(weights, (frame.height, 1))
