"""Parse the timestamps exporters write, all at once, into UTC.

Exporters disagree on how to write a time (unix seconds, "24 Jan 2023, 09:42",
"2020-04-13 05:01:31", ISO-8601 with a Z) and some files mix two of them in different
columns. Each value is tried against every known form and the first that fits wins, as
one vectorized expression. Values without a zone are taken as UTC (what Last.fm and Spotify
exports use); values with an offset are converted to UTC.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

# Naive forms, tried in order (day-first forms only with a month name: "01/02/2023" is
# ambiguous and is rejected rather than guessed).
NAIVE_FORMATS = (
    "%d %b %Y, %H:%M",  # Last.fm site export / lastfm-to-csv: "24 Jan 2023, 09:42"
    "%d %b %Y %H:%M",  # benjaminbenben lastfm-to-csv: "20 Nov 2020 09:35"
    "%Y-%m-%d %H:%M:%S",  # pandas / R exports
    "%Y-%m-%d %H:%M",  # Spotify account data `endTime`
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
)
# Offset-aware forms: ISO-8601 with Z or +hh:mm (Spotify `ts`, Last.fm-1K).
AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%#z", "%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%#z")

EARLIEST = dt.datetime(2002, 1, 1, tzinfo=dt.UTC)  # Last.fm began in 2002; earlier = bogus
UTC_TYPE = pl.Datetime("us", "UTC")


def parse_timestamp(value: pl.Expr) -> pl.Expr:
    """UTC datetimes from text; null where the text fits no known form."""
    text = value.str.strip_chars()
    digits = text.str.contains(r"^\d+$")
    as_int = text.cast(pl.Int64, strict=False)
    unix_seconds = pl.when(digits & (text.str.len_chars() <= 11)).then(
        pl.from_epoch(as_int, time_unit="s")
    )
    unix_millis = pl.when(digits & text.str.len_chars().is_between(12, 14)).then(
        pl.from_epoch(as_int, time_unit="ms")
    )
    candidates = [
        unix_seconds.dt.cast_time_unit("us").dt.replace_time_zone("UTC"),
        unix_millis.dt.cast_time_unit("us").dt.replace_time_zone("UTC"),
        *(
            text.str.to_datetime(form, strict=False, time_unit="us", time_zone="UTC")
            for form in AWARE_FORMATS
        ),
        *(
            text.str.to_datetime(form, strict=False, time_unit="us", time_zone="UTC")
            for form in NAIVE_FORMATS
        ),
    ]
    return pl.coalesce(candidates)
