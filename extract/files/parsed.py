"""What parsing one file produces, and the accounting rule every parser must satisfy.

Every input row of a file ends up in exactly one of `loaded` (conformed to its raw table)
or `rejected` (its text plus `_reason`, for raw_rejected.rows). The constructor refuses a
result that loses or invents rows, so that rule is checked on every import, not only in a
test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import polars as pl

from extract.files.checks import REASON
from warehouse.loader import conform
from warehouse.raw_tables import RawTable


@dataclass(frozen=True)
class ParsedFile:
    name: str  # the file's name within the import (its `source_ref`)
    source: str  # the raw `_source`: lastfm_export, spotify_export, kaggle
    table: RawTable
    layout: str  # the layout or format recognised, for the report
    rows_in: int  # data rows read from the file (blank lines excluded)
    loaded: pl.DataFrame
    rejected: pl.DataFrame
    blank_lines: int = 0

    def __post_init__(self) -> None:
        if self.loaded.height + self.rejected.height != self.rows_in:
            raise RuntimeError(
                f"{self.name}: {self.rows_in} rows read but {self.loaded.height} loaded + "
                f"{self.rejected.height} rejected; a parser lost rows"
            )
        if self.rejected.height and REASON not in self.rejected.columns:
            raise RuntimeError(f"{self.name}: rejected rows without a {REASON}")
        object.__setattr__(self, "loaded", conform(self.loaded, self.table))

    @property
    def reasons(self) -> dict[str, int]:
        if self.rejected.height == 0:
            return {}
        counts = (
            self.rejected.group_by(REASON).len().sort(["len", REASON], descending=[True, False])
        )
        return dict(counts.iter_rows())


def user_from_file_name(name: str, *, require_prefix: bool = False) -> str | None:
    """The user a file belongs to by its name: the part before `__` (`alice__scrobbles.csv`),
    else (unless a prefix is required) the name without its extensions."""
    base = PurePosixPath(name).name
    if "__" in base:
        return base.split("__", 1)[0] or None
    if require_prefix:
        return None
    return base.split(".", 1)[0] or None
