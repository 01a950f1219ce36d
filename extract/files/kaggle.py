"""Parse the Kaggle Spotify tracks dataset (maharshipandya) into raw.kaggle_tracks.

The real files have quirks that type inference trips over: a leading unnamed index column
(`Unnamed: 0`, or an empty name after a UTF-8 byte-order mark), `1.01E-06` floats,
`False`/`TRUE` booleans, empty cells, and the same track_id under several genres (one row
per genre in the original: all are kept, `source_row` tells them apart). Every value is
read as text and typed column by column; a value that does not convert quarantines its row
with the column named ("unparseable tempo"; a number the column cannot hold, like inf or
an integer beyond 32 bits: "tempo out of range"), an empty cell loads as NULL.
"""

from __future__ import annotations

import polars as pl

from extract.files.casts import (
    blank_to_null,
    failed,
    out_of_range,
    to_bool,
    to_float,
    to_int,
)
from extract.files.checks import REASON, split_rows, text_checks, truncated_check
from extract.files.errors import FileImportError
from extract.files.inputs import InputFile
from extract.files.parsed import ParsedFile
from extract.files.text import ROW_COLUMN, decode, read_delimited, unique_names
from warehouse.raw_tables import KAGGLE_TRACKS

SOURCE = "kaggle"
LAYOUT = "kaggle_spotify_tracks"
INDEX_NAMES = ("", "unnamed: 0", "unnamed:0", "index")
_TYPES = dict(KAGGLE_TRACKS.columns)
DATA_COLUMNS = [name for name in KAGGLE_TRACKS.column_names if name != "source_row"]


def _normalize(name: str | None) -> str:
    return (name or "").strip().strip("\ufeff").strip().strip('"').lower()


def looks_like_kaggle(header: list[str]) -> bool:
    names = {_normalize(h) for h in header}
    return {"track_id", "track_genre", "danceability"} <= names


def _typed(name: str, text: pl.Expr) -> pl.Expr:
    kind = _TYPES[name]
    if kind == "integer":
        return to_int(text)
    if kind == "double precision":
        return to_float(text)
    if kind == "boolean":
        return to_bool(text)
    return text


def parse_kaggle(file: InputFile) -> ParsedFile:
    """Rows of raw.kaggle_tracks and quarantined rows of one dataset CSV."""
    table = read_delimited(
        file.name, decode(file.data), separator=",", quoting=True, has_header=True
    )
    header = [_normalize(h) for h in table.header or []]
    missing = [name for name in DATA_COLUMNS if name not in header]
    if missing:
        raise FileImportError(file.name, f"not the Kaggle tracks dataset: no column {missing}")
    position = {name: f"c{header.index(name)}" for name in DATA_COLUMNS}
    index = "c0" if header[0] in INDEX_NAMES else None
    # Without the original index column, the row's position in the file stands in for it.
    source_row = pl.col(index) if index else (pl.col(ROW_COLUMN) - 1).cast(pl.String)
    texts = {
        "source_row": blank_to_null(source_row),
        **{name: blank_to_null(pl.col(c)) for name, c in position.items()},
    }
    prepared = table.rows.with_columns(
        pl.lit(file.name).alias("_file"),
        **{f"_text_{name}": expr for name, expr in texts.items()},
    ).with_columns(**{name: _typed(name, pl.col(f"_text_{name}")) for name in texts})
    checks = [
        *truncated_check(table.truncated_row),
        *text_checks(list(position.values())),
        (pl.col("track_id").is_null(), "empty track_id"),
        *(
            (
                out_of_range(pl.col(f"_text_{name}"), integer=_TYPES[name] == "integer"),
                f"{name} out of range",
            )
            for name in texts
            if _TYPES[name] in ("integer", "double precision")
        ),
        *(
            (failed(pl.col(f"_text_{name}"), pl.col(name)), f"unparseable {name}")
            for name in texts
            if _TYPES[name] != "text"
        ),
    ]
    names = unique_names(table.header or [])
    columns = table.value_columns
    split = split_rows(
        prepared,
        checks=checks,
        loaded=[pl.col(c) for c in KAGGLE_TRACKS.column_names],
        rejected=["_file", ROW_COLUMN, *columns],
    )
    rejected = split.rejected.rename(
        {"_file": "source_ref", **dict(zip(columns, names, strict=True))}
    )
    ragged = table.ragged.with_columns(
        pl.lit(file.name).alias("source_ref"),
        pl.col(ROW_COLUMN).cast(pl.String),
        pl.lit(f"more than {len(columns)} fields").alias(REASON),
    )
    if ragged.height:
        rejected = pl.concat([rejected, ragged], how="diagonal")
    return ParsedFile(
        name=file.name,
        source=SOURCE,
        table=KAGGLE_TRACKS,
        layout=LAYOUT,
        rows_in=table.rows.height + table.ragged.height,
        loaded=split.loaded,
        rejected=rejected,
        blank_lines=table.blank,
    )
