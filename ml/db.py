"""Reading feature marts into polars with types fixed by code, not inferred from rows.

dbt may materialise a count as bigint or numeric and a rate as double or numeric; casting in
the SELECT pins every feature to float64 (and categoricals to text), so training and scoring
frames always have the same schema whatever the mart's physical types are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from ml.features import feature_schema

MARTS = "marts"
PAIR_FEATURES = "fct_pair_features"
CANDIDATE_FEATURES = "fct_candidate_features"
OUTCOMES = "fct_candidate_outcomes"

_PG_TYPES: Mapping[type[pl.DataType], str] = {
    pl.Float64: "double precision",
    pl.Int32: "integer",
    pl.Int64: "bigint",
    pl.String: "text",
    pl.Datetime: "timestamptz",
}


def feature_query(
    table: str, keys: Mapping[str, pl.DataType], where: sql.Composable | None = None,
    extra: Sequence[str] = (),
) -> tuple[sql.Composed, dict[str, pl.DataType]]:
    """SELECT `keys` plus every feature (and the `extra` numeric columns) from
    marts.`table`, each cast to its declared type.

    Returns the query and the polars schema its rows have.
    """
    schema = dict(keys) | feature_schema() | {name: pl.Float64() for name in extra}
    columns = [
        sql.SQL("{}::{} as {}").format(
            sql.Identifier(name), sql.SQL(_PG_TYPES[dtype.base_type()]), sql.Identifier(name)
        )
        for name, dtype in schema.items()
    ]
    query = sql.SQL("select {} from {}.{}").format(
        sql.SQL(", ").join(columns), sql.Identifier(MARTS), sql.Identifier(table)
    )
    if where is not None:
        query = sql.SQL("{} where {}").format(query, where)
    return query, schema


def read_frame(
    conn: psycopg.Connection,
    query: sql.Composable,
    schema: Mapping[str, pl.DataType],
    params: Sequence[Any] | Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """Run `query` and return all rows as a frame with exactly `schema`."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        return _frame(cur.fetchall(), schema)


def iter_frames(
    conn: psycopg.Connection,
    query: sql.Composable,
    schema: Mapping[str, pl.DataType],
    batch_rows: int,
) -> Iterator[pl.DataFrame]:
    """Stream `query` through a server-side cursor, `batch_rows` rows per frame.

    Needs an open transaction (server-side cursors live inside one); memory stays bounded
    however many candidates the mart holds.
    """
    with conn.cursor(name="ml_stream", binary=True) as cur:
        cur.itersize = batch_rows
        cur.execute(query)
        while rows := cur.fetchmany(batch_rows):
            yield _frame(rows, schema)


def _frame(rows: list[tuple[Any, ...]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=dict(schema), orient="row")
