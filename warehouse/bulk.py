"""A bulk read described as data, so each warehouse renders it in its own SQL.

The ML job reads whole marts (columns cast to the types the model expects, some rows left
out, a fixed order, or one shard of the users); `warehouse.seam` turns a `Select` into
PostgreSQL's COPY or Snowflake's Arrow result batches. Names come from code only.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Shard:
    """The rows whose `column` hashes to `index` of `count` shards (each warehouse's own hash:
    the split is stable within a warehouse, not across them)."""

    column: str
    index: int
    count: int

    def __post_init__(self) -> None:
        check_identifiers(self.column)
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard must be in 0..{self.count - 1}, got {self.index}")


@dataclass(frozen=True)
class Select:
    """`columns` of `schema.table`, each cast to its polars type, the rows where every
    `not_null` column has a value (and in `shard`, when given), ordered by `order_by`."""

    schema: str
    table: str
    columns: Mapping[str, pl.DataType]
    not_null: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    shard: Shard | None = None

    def __post_init__(self) -> None:
        check_identifiers(self.schema, self.table, *self.columns, *self.not_null, *self.order_by)
        if self.shard is not None:
            check_identifiers(self.shard.column)


def check_identifiers(*names: str) -> None:
    """Names go into SQL text: only plain identifiers (letters, digits, `_`) may."""
    for name in names:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain identifier: {name!r}")


def rebatch(frames: Iterable[pl.DataFrame], batch_rows: int) -> Generator[pl.DataFrame, None, None]:
    """`frames` regrouped into frames of `batch_rows` rows (the last one shorter); as they
    come when `batch_rows` is 0 or less."""
    pending: list[pl.DataFrame] = []
    held = 0
    for frame in frames:
        if batch_rows <= 0:
            yield frame
            continue
        pending.append(frame)
        held += frame.height
        while held >= batch_rows:
            rows = pl.concat(pending)
            yield rows.head(batch_rows)
            pending, held = [rows.slice(batch_rows)], held - batch_rows
    if held:
        yield pl.concat(pending)
