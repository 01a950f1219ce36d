"""Typed values from text, one column at a time, without guessing.

A value either converts exactly or becomes null, and the caller compares with the input
to quarantine the row ("not a number") instead of loading a silent NULL. Booleans accept
the spellings real files use (`True`, `FALSE`, `true`, `1`/`0`); integers accept "42" and
"42.0" but not "42.5".
"""

from __future__ import annotations

import polars as pl

TRUE_WORDS = ("true", "t", "yes", "1")
FALSE_WORDS = ("false", "f", "no", "0")
INT32_MAX = 2**31 - 1


def to_float(value: pl.Expr) -> pl.Expr:
    return value.str.strip_chars().cast(pl.Float64, strict=False)


def to_int(value: pl.Expr) -> pl.Expr:
    """32-bit integers written as integers or whole floats; null otherwise or out of range
    (every integer column of the raw tables is `integer`)."""
    number = to_float(value)
    whole = number.is_finite() & (number == number.floor()) & (number.abs() <= INT32_MAX)
    return pl.when(whole).then(number).cast(pl.Int32)


def to_bool(value: pl.Expr) -> pl.Expr:
    word = value.str.strip_chars().str.to_lowercase()
    return (pl.when(word.is_in(TRUE_WORDS)).then(True)
            .when(word.is_in(FALSE_WORDS)).then(False))


def failed(text: pl.Expr, typed: pl.Expr) -> pl.Expr:
    """True where a value was given but did not convert."""
    return text.is_not_null() & (text.str.strip_chars() != "") & typed.is_null()


def blank_to_null(value: pl.Expr) -> pl.Expr:
    """Empty or whitespace-only text as null: exporters write "" for "unknown"."""
    return pl.when(value.str.strip_chars() != "").then(value)
