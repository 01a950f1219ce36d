"""Decode exported text and read delimited files into all-string frames.

Everything is read as text first and typed later, column by column, so one bad value
rejects one row instead of failing (or silently nulling) a whole column the way type
inference does. Bytes that are not UTF-8 are replaced with U+FFFD rather than guessed at:
the rows that carry them are quarantined by the checks, and the rest of the file loads.

polars reads the file (fast); only when a line has more fields than the first one, which
polars refuses, the standard csv module reads it again and those lines are quarantined.

A file cut off in the middle of a row (an interrupted download or copy) ends without a line
break in a row with too few fields or an open quote; that row's number is reported as
`truncated_row` so the caller quarantines it: the complete rows before it still load.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

import polars as pl

from extract.files.errors import FileImportError

REPLACEMENT_CHAR = "\ufffd"
ROW_COLUMN = "_row"  # 1-based data row number within its file, kept with rejected rows


def decode(data: bytes) -> str:
    """The file's text: BOMs honoured (UTF-8, UTF-16), otherwise UTF-8 with replacement."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    return data.decode("utf-8", errors="replace")


def first_lines(text: str, count: int) -> list[str]:
    """The first `count` lines (cheap: for sniffing a layout, not for parsing)."""
    return text[: 1 << 16].splitlines()[:count]


def unique_names(names: list[str | None]) -> list[str]:
    """Header names made usable as column names: empty ones numbered, repeats suffixed."""
    result: list[str] = []
    for position, name in enumerate(names):
        candidate = (name or "").strip() or f"column_{position + 1}"
        while candidate in result:
            candidate = f"{candidate}_{position + 1}"
        result.append(candidate)
    return result


@dataclass(frozen=True)
class Table:
    """A delimited file read as text.

    `rows` has positional columns `c0..cN` for the width of the first line plus `_row` (the
    data row number, header excluded); `ragged` holds lines with more fields than the first
    (`_row`, `raw_line`), which the caller quarantines; `blank` counts lines without any
    value, which are not rows; `truncated_row` is the `_row` of a last row the file was cut
    off in (None when the file ends cleanly).
    """

    header: list[str | None] | None
    rows: pl.DataFrame
    ragged: pl.DataFrame
    blank: int
    truncated_row: int | None = None

    @property
    def value_columns(self) -> list[str]:
        return [name for name in self.rows.columns if name != ROW_COLUMN]


def read_delimited(
    name: str, text: str, *, separator: str, quoting: bool, has_header: bool
) -> Table:
    """Read a delimited text, every value a string (empty -> null)."""
    if not text.strip():
        raise FileImportError(name, "the file is empty")
    try:
        frame = pl.read_csv(
            text.encode("utf-8"),
            has_header=False,
            infer_schema=False,
            separator=separator,
            quote_char='"' if quoting else None,
        )
        frame = frame.rename({old: f"c{i}" for i, old in enumerate(frame.columns)})
        frame = frame.with_row_index(ROW_COLUMN, offset=1).with_columns(
            pl.col(ROW_COLUMN).cast(pl.Int64)
        )
        ragged = pl.DataFrame(schema={ROW_COLUMN: pl.Int64, "raw_line": pl.String})
    except pl.exceptions.ComputeError:
        frame, ragged = _read_with_csv_module(text, separator=separator, quoting=quoting)
    header = None
    if has_header:
        header = list(frame.drop(ROW_COLUMN).row(0))
        frame = frame.slice(1).with_columns(pl.col(ROW_COLUMN) - 1)
        ragged = ragged.with_columns(pl.col(ROW_COLUMN) - 1)
    values = [column for column in frame.columns if column != ROW_COLUMN]
    blank = pl.all_horizontal(pl.col(values).is_null())
    n_blank = frame.select(blank.sum()).item()
    rows = frame.filter(~blank).select(*values, ROW_COLUMN)
    truncated = None
    if rows.height and _cut_off(text, separator=separator, quoting=quoting, width=len(values)):
        last_row = rows[ROW_COLUMN].max()
        assert isinstance(last_row, int)  # the row numbers of a non-empty frame
        truncated = last_row
    return Table(header, rows, ragged, n_blank, truncated)


def _cut_off(text: str, *, separator: str, quoting: bool, width: int) -> bool:
    """Whether the text ends in the middle of a row: no final line break, and the last line
    has an unclosed quote or fewer fields than the first line."""
    if text.endswith(("\n", "\r")):
        return False
    last = text[text.rfind("\n") + 1 :]
    if quoting and last.count('"') % 2:
        return True
    fields = next(
        csv.reader(
            [last], delimiter=separator, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE
        ),
        [],
    )
    return 0 < len(fields) < width


def _read_with_csv_module(
    text: str, *, separator: str, quoting: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The slow, forgiving path: split well-formed rows from lines with too many fields.

    Rows keep their record numbers (`_row`, 1-based, header included) either way.
    """
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=separator,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
    )
    records = [row for row in reader if row]
    width = len(records[0])
    good = [(number, row) for number, row in enumerate(records, start=1) if len(row) <= width]
    bad = [
        (number, separator.join(row))
        for number, row in enumerate(records, start=1)
        if len(row) > width
    ]
    columns: dict[str, list] = {
        f"c{i}": [row[i] or None if i < len(row) else None for _, row in good] for i in range(width)
    }
    columns[ROW_COLUMN] = [number for number, _ in good]
    frame = pl.DataFrame(
        columns, schema={**{f"c{i}": pl.String for i in range(width)}, ROW_COLUMN: pl.Int64}
    )
    ragged = pl.DataFrame(bad, schema={ROW_COLUMN: pl.Int64, "raw_line": pl.String}, orient="row")
    return frame, ragged
