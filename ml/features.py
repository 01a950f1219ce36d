"""The model's inputs, declared once, and the one encoding used at training and scoring time.

The column list mirrors the "Feature columns" table of docs/data_contracts.md: both
`marts.fct_pair_features` (training) and `marts.fct_candidate_features` (scoring) carry
exactly these columns, so the model sees the same inputs in both places.

Categorical columns become integer codes from a vocabulary learned on the training rows and
saved with the model. Scoring reuses that saved vocabulary, never a new one, so a code means
the same category in both places; a category the model never saw becomes missing (NaN),
which LightGBM routes like a NULL instead of confusing it with some other category.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

NUMERIC_FEATURES: tuple[str, ...] = (
    "user_prior_plays",
    "user_prior_tracks",
    "user_prior_labelled_pairs",
    "user_prior_repeat_rate",
    "user_repeat_rate_smoothed",
    "user_repeat_rate_90d_smoothed",
    "user_hours_since_prev_play",
    "user_plays_7d",
    "user_plays_30d",
    "user_new_track_share_30d",
    "track_prior_plays",
    "track_prior_listeners",
    "track_prior_repeat_rate",
    "track_repeat_rate_smoothed",
    "track_plays_7d",
    "track_plays_28d",
    "track_plays_trend",
    "artist_prior_plays",
    "artist_prior_repeat_rate",
    "artist_repeat_rate_smoothed",
    "user_artist_prior_plays",
    "user_artist_prior_tracks",
    "user_artist_days_since_last_play",
    "user_artist_plays_30d",
    "user_artist_repeat_rate_smoothed",
    "user_genre_share",
    "colisten_score",
    "user_repeat_audio_distance",
    "hour_of_day",
    "day_of_week",
    "session_position",
    "session_minutes_elapsed",
    "session_artist_plays",
    "duration_ms",
    "danceability",
    "energy",
    "valence",
    "acousticness",
    "tempo",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("genre", "country", "age_band")
FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

Vocabulary = dict[str, list[str]]
"""Per categorical column, its known values; a value's code is its index in the list."""


def feature_schema() -> dict[str, pl.DataType]:
    """The polars dtype of every feature column as read from the warehouse."""
    schema: dict[str, pl.DataType] = {name: pl.Float64() for name in NUMERIC_FEATURES}
    schema.update({name: pl.String() for name in CATEGORICAL_FEATURES})
    return schema


def fit_vocabulary(frame: pl.DataFrame) -> Vocabulary:
    """The sorted distinct non-null values of each categorical column (training rows only)."""
    return {
        name: sorted(frame.get_column(name).drop_nulls().unique().to_list())
        for name in CATEGORICAL_FEATURES
    }


def to_matrix(frame: pl.DataFrame, vocabulary: Mapping[str, Sequence[str]]) -> np.ndarray:
    """The LightGBM input: float64, one column per FEATURES entry, in FEATURES order.

    Numeric NULLs become NaN (LightGBM's missing value). Categoricals become their index in
    `vocabulary`; NULL or a value outside the vocabulary becomes NaN.
    """
    missing = [name for name in FEATURES if name not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks feature columns: {', '.join(missing)}")
    encoded = frame.select(
        *(pl.col(name).cast(pl.Float64) for name in NUMERIC_FEATURES),
        *(_encode(name, vocabulary[name]) for name in CATEGORICAL_FEATURES),
    )
    return encoded.to_numpy(order="c").astype(np.float64, copy=False)


def _encode(name: str, values: Sequence[str]) -> pl.Expr:
    codes = pl.DataFrame(
        {"value": list(values), "code": np.arange(len(values), dtype=np.float64)},
        schema={"value": pl.String, "code": pl.Float64},
    )
    return (
        pl.col(name)
        .cast(pl.String)
        .replace_strict(codes["value"], codes["code"], default=None, return_dtype=pl.Float64)
        .fill_null(float("nan"))
        .alias(name)
    )
