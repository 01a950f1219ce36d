"""The feature marts as polars frames, with types fixed by code, not inferred from rows.

dbt may materialise a count as bigint or numeric and a rate as double or numeric; the read
casts every feature to float64 (and categoricals to text), so training and scoring frames
always have the same schema whatever the mart's physical types are. The rows come through
the warehouse seam (`warehouse.seam.data`: where dbt builds): COPY parsed into Arrow on
PostgreSQL, Arrow result batches on Snowflake.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from ml.features import feature_schema
from warehouse import seam
from warehouse.bulk import Select, Shard

MARTS = "marts"
PAIR_FEATURES = "fct_pair_features"
CANDIDATE_FEATURES = "fct_candidate_features"
OUTCOMES = "fct_candidate_outcomes"


def feature_query(
    table: str,
    keys: Mapping[str, pl.DataType],
    *,
    not_null: Sequence[str] = (),
    order_by: Sequence[str] = (),
    shard: Shard | None = None,
    extra: Sequence[str] = (),
    only: Collection[str] | None = None,
) -> Select:
    """`keys` plus every feature (and the `extra` numeric columns) of marts.`table`, each
    cast to its declared type, or (`only`) those of them named there; `select.columns` is
    the polars schema of its rows."""
    features = feature_schema() | {name: pl.Float64() for name in extra}
    if only is not None:
        features = {name: dtype for name, dtype in features.items() if name in only}
    schema = dict(keys) | features
    return Select(MARTS, table, schema, tuple(not_null), tuple(order_by), shard)


def read_frame(conn: Any, select: Select) -> pl.DataFrame:
    """All rows of `select` as one frame with exactly its schema."""
    return seam.data(conn).read_frame(select)


def iter_frames(conn: Any, select: Select, batch_rows: int) -> Iterator[pl.DataFrame]:
    """`select`'s rows as frames of `batch_rows` rows (the last one shorter), memory bounded
    however many candidates the mart holds."""
    return seam.data(conn).iter_frames(select, batch_rows)
