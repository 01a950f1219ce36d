"""The model's inputs, declared once, and the one encoding used at training and scoring time.

The history features are dbt's var `history_features` (dbt_project.yml), the very list the
feature marts select; with the context and item columns below they make the "Feature
columns" table of docs/data_contracts.md. Both `marts.fct_pair_features` (training) and
`marts.fct_candidate_features` (scoring) carry exactly these columns, so the model sees the
same inputs in both places.

Categorical columns become integer codes from a vocabulary learned on the training rows and
saved with the model. Scoring reuses that saved vocabulary, never a new one, so a code means
the same category in both places; a category the model never saw becomes missing (NaN),
which LightGBM routes like a NULL instead of confusing it with some other category.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from warehouse.dbt_project import dbt_var

CONTEXT_FEATURES: tuple[str, ...] = (
    "hour_of_day",
    "day_of_week",
    "session_position",
    "session_minutes_elapsed",
    "session_artist_plays",
)
"""The play's context: each feature mart builds it its own way (a first play's own, a
candidate's typical one)."""
ITEM_FEATURES: tuple[str, ...] = (
    "duration_ms",
    "danceability",
    "energy",
    "valence",
    "acousticness",
    "tempo",
)
"""The track's catalogue attributes (macros/feature_columns.sql, item_feature_columns)."""
NUMERIC_FEATURES: tuple[str, ...] = (
    *dbt_var("history_features"),
    *CONTEXT_FEATURES,
    *ITEM_FEATURES,
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
