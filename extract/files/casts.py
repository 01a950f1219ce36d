"""Typed values from text, one column at a time, without guessing.

A value either converts exactly or becomes null, and the caller compares with the input
to quarantine the row ("not a number") instead of loading a silent NULL. Booleans accept
the spellings real files use (`True`, `FALSE`, `true`, `1`/`0`); integers accept "42" and
"42.0" but not "42.5". Numbers that parse but cannot be stored (an integer beyond 32 bits,
a negative count, `inf`, `NaN`, `1e400`) are told apart by `out_of_range`, so their rows
are quarantined with that reason rather than "not a number".
"""

from __future__ import annotations

import polars as pl

TRUE_WORDS = ("true", "t", "yes", "1")
FALSE_WORDS = ("false", "f", "no", "0")
INT32_MAX = 2**31 - 1


def _number(value: pl.Expr) -> pl.Expr:
    return value.str.strip_chars().cast(pl.Float64, strict=False)


def to_float(value: pl.Expr) -> pl.Expr:
    """Finite floats; null for text that is not a number and for inf, NaN and overflow
    (`1e400`): no raw column means "infinitely loud"."""
    number = _number(value)
    return pl.when(number.is_finite()).then(number)


def to_int(value: pl.Expr) -> pl.Expr:
    """32-bit integers written as integers or whole floats; null otherwise or out of range
    (every integer column of the raw tables is `integer`)."""
    number = _number(value)
    whole = number.is_finite() & (number == number.floor()) & (number.abs() <= INT32_MAX)
    return pl.when(whole).then(number).cast(pl.Int32)


def out_of_range(value: pl.Expr, *, integer: bool, minimum: float | None = None) -> pl.Expr:
    """True where the text is a number that the column cannot hold: not finite (inf, NaN,
    1e400), beyond a 32-bit integer, or below `minimum`."""
    number = _number(value)
    bad = ~number.is_finite()
    if integer:
        bad = bad | (number.abs() > INT32_MAX)
    if minimum is not None:
        bad = bad | (number < minimum)
    return (number.is_not_null() & bad).fill_null(False)


def to_bool(value: pl.Expr) -> pl.Expr:
    word = value.str.strip_chars().str.to_lowercase()
    return pl.when(word.is_in(TRUE_WORDS)).then(True).when(word.is_in(FALSE_WORDS)).then(False)


def failed(text: pl.Expr, typed: pl.Expr) -> pl.Expr:
    """True where a value was given but did not convert."""
    return text.is_not_null() & (text.str.strip_chars() != "") & typed.is_null()


def blank_to_null(value: pl.Expr) -> pl.Expr:
    """Empty or whitespace-only text as null: exporters write "" for "unknown"."""
    return pl.when(value.str.strip_chars() != "").then(value)
