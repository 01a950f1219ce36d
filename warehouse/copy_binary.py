"""Frames as PostgreSQL's binary COPY stream, encoded column by column (no Python per row).

The server stores binary fields without parsing text (timestamps, dates, numbers and uuids
arrive as their stored bytes), so a binary COPY costs the server about a third of the CSV
one (docs/benchmarks.md). The stream is typed by the target columns' declared PostgreSQL
types (`warehouse.raw_tables`): a binary field must be exactly its column's type (an
`integer` takes 4 bytes, never 8). Each column becomes one Arrow binary array of its
fields (length word, then the value's bytes; -1 and nothing for NULL), and Arrow joins the
columns row by row into the tuples.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)

# PostgreSQL's epoch (2000-01-01) in Unix days and microseconds
_PG_EPOCH_DAYS = 10_957
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400_000_000

# fixed-width types: the big-endian numpy dtype of their stored bytes
_FIXED: dict[str, str] = {
    "integer": ">i4",
    "bigint": ">i8",
    "double precision": ">f8",
    "boolean": "u1",
    "date": ">i4",
    "timestamptz": ">i8",
    "uuid": "V16",
}
SUPPORTED_TYPES = frozenset((*_FIXED, "text", "jsonb"))
_NOTHING = pa.scalar(b"", pa.large_binary())


def base_type(pg_type: str) -> str:
    """`uuid not null` -> `uuid`: a declared type without its constraints or default."""
    for name in sorted(SUPPORTED_TYPES, key=len, reverse=True):
        if pg_type == name or pg_type.startswith(name + " "):
            return name
    raise ValueError(f"no binary COPY encoding for PostgreSQL type {pg_type!r}")


@dataclass(frozen=True)
class Constants:
    """Fields that end every tuple, the same in every row (a batch's id, source, date):
    `row`, one row of them, and `fields`, its encoding (`Constants.of`)."""

    row: pl.DataFrame
    fields: bytes

    @classmethod
    def of(cls, row: pl.DataFrame, pg_types: Sequence[str]) -> Constants:
        if row.height != 1:
            raise ValueError(f"constants are one row, not {row.height}")
        return cls(row, bytes(encode_rows(row, pg_types)[2:]))  # without its field count


def encode_rows(
    frame: pl.DataFrame, pg_types: Sequence[str], constants: Constants | None = None
) -> memoryview:
    """`frame`'s rows as binary COPY tuples (no signature, no trailer); column i is
    encoded as `pg_types[i]`, and each tuple ends with the `constants`. A text value
    holding NUL goes as is: the server refuses it, as it does in CSV."""
    if len(pg_types) != frame.width:
        raise ValueError(f"{frame.width} columns but {len(pg_types)} types")
    n = frame.height
    if n == 0:
        return memoryview(b"")
    count = frame.width + (constants.row.width if constants is not None else 0)
    fields = [_fixed_array(np.full(n, count, dtype=">i2").view(np.uint8), 2)]
    for series, pg_type in zip(frame.get_columns(), pg_types, strict=True):
        fields.extend(_fields(series, base_type(pg_type)))
    if constants is not None:
        fields.append(pa.scalar(constants.fields, pa.large_binary()))
    tuples = pc.binary_join_element_wise(*fields, _NOTHING)
    return _offsets_and_bytes(tuples)[1].data


def _fields(series: pl.Series, pg_type: str) -> list[pa.Array]:
    """One column's fields, as binary arrays to be joined in order."""
    n = len(series)
    valid = series.is_not_null().to_numpy()
    if pg_type in _FIXED:
        dtype = np.dtype(_FIXED[pg_type])
        block = np.empty(n, dtype=[("length", ">i4"), ("value", dtype)])
        block["length"] = np.where(valid, dtype.itemsize, -1)
        block["value"] = _fixed_values(series, pg_type)
        raw = block.view(np.uint8)
        if valid.all():
            return [_fixed_array(raw, 4 + dtype.itemsize)]
        # a NULL is its length word alone: keep 4 of its 4 + width bytes
        keep = np.ones((n, 4 + dtype.itemsize), dtype=bool)
        keep[~valid, 4:] = False
        sizes = np.where(valid, 4 + dtype.itemsize, 4)
        return [_ragged_array(raw.reshape(n, -1)[keep], sizes)]
    text = series.cast(pl.String)
    if pg_type == "jsonb":  # jsonb's binary form: a version byte, then the JSON text
        text = "\x01" + text
    text = text.fill_null("")
    values = text.to_arrow().cast(pa.large_binary())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    lengths = np.where(valid, pc.binary_length(values).to_numpy(zero_copy_only=False), -1)
    return [_fixed_array(lengths.astype(">i4").view(np.uint8), 4), values]


def _fixed_values(series: pl.Series, pg_type: str) -> np.ndarray:
    """The column's values as PostgreSQL stores them (anything where NULL)."""
    if pg_type == "date":
        return series.cast(pl.Int32).fill_null(0).to_numpy() - _PG_EPOCH_DAYS
    if pg_type == "timestamptz":
        unix_us = series.dt.cast_time_unit("us").dt.epoch("us").fill_null(0).to_numpy()
        return unix_us - _PG_EPOCH_US
    if pg_type == "uuid":  # hex digits to 16 bytes (a malformed uuid fails here)
        digits = series.cast(pl.String).str.replace_all("-", "", literal=True)
        raw = digits.fill_null("0" * 32).str.decode("hex").to_arrow()
        return _offsets_and_bytes(raw)[1].view("V16")
    if pg_type == "boolean":
        return series.fill_null(value=False).to_numpy()
    return series.fill_null(0).to_numpy()


def _fixed_array(raw: np.ndarray, width: int) -> pa.Array:
    """`raw` bytes cut into values of `width` bytes, as a large binary array."""
    count = len(raw) // width
    array = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), count, [None, pa.py_buffer(np.ascontiguousarray(raw))]
    )
    return array.cast(pa.large_binary())


def _ragged_array(raw: np.ndarray, sizes: np.ndarray) -> pa.Array:
    """`raw` bytes cut into values of `sizes` bytes, as a large binary array."""
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(sizes), [None, pa.py_buffer(offsets), pa.py_buffer(raw)]
    )


def _offsets_and_bytes(array: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A binary column's value offsets (n + 1, from 0) and its values' bytes."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = array.cast(pa.large_binary())
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    if data_buffer is None:  # every value empty
        return offsets - offsets[0], np.empty(0, dtype=np.uint8)
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    return offsets - offsets[0], data
