"""What is checked: the rules for the raw loads of a logical date and for the marts.

Rules are plain data here (a great-expectations class name, its arguments, a severity and
a human "expected" text), so this module imports without great_expectations, the rules can
be read and unit-tested on their own, and `quality.runner` is the only place that knows GE.

Raw checks cover each raw table that received a batch for the run's logical date (plus any
table a load task reported loading); mart checks cover the tables the model trains and
scores on. Table and column names come from `warehouse.raw_tables` and from this module,
never from input.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from quality.config import Thresholds
from quality.summary import Severity
from warehouse.raw_tables import RAW_SCHEMA, RAW_TABLES
from warehouse.seam import Warehouse

RAW_CHECKPOINT = "raw"
MARTS_CHECKPOINT = "marts"
MARTS_SCHEMA = "marts"


@dataclass(frozen=True)
class Rule:
    """One expectation: `expectation` names a class of `great_expectations.expectations`."""

    expectation: str
    kwargs: Mapping[str, Any]
    expected: str
    severity: Severity = "critical"

    @property
    def column(self) -> str | None:
        if "column" in self.kwargs:
            return str(self.kwargs["column"])
        if "column_list" in self.kwargs:
            return ",".join(self.kwargs["column_list"])
        return None


@dataclass(frozen=True)
class AssetSpec:
    """A table (or a query over tables) and the rules it must pass."""

    name: str
    rules: tuple[Rule, ...]
    schema: str | None = None
    table: str | None = None
    query: str | None = None  # a query asset instead of a table asset

    def __post_init__(self) -> None:
        if (self.query is None) == (self.table is None):
            raise ValueError(f"{self.name}: give either a table or a query")


@dataclass(frozen=True)
class RawRules:
    """The per-table contract of a raw batch.

    `not_null`: identity columns every row needs (loaders quarantine rows without them).
    `unique`: keys unique within one batch (only single-source catalogues guarantee it).
    `timestamps`: event times, which must lie after the floor and not in the future.
    `snapshot`: the batch is a whole snapshot, so its size is comparable run to run;
    incremental batches (new scrobbles since the watermark) vary too much for a ratio.
    """

    not_null: tuple[str, ...]
    unique: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ()
    snapshot: bool = False


RAW_RULES: dict[str, RawRules] = {
    "synthetic_users": RawRules(
        ("user_id",), unique=("user_id",), timestamps=("signed_up_at",), snapshot=True
    ),
    "synthetic_artists": RawRules(("artist_id",), unique=("artist_id",), snapshot=True),
    "synthetic_tracks": RawRules(("track_id", "artist_id"), unique=("track_id",), snapshot=True),
    "synthetic_plays": RawRules(
        ("user_id", "track_id", "played_at"), timestamps=("played_at",), snapshot=True
    ),
    "lastfm_scrobbles": RawRules(
        ("user_name", "played_at", "artist_name", "track_name"), timestamps=("played_at",)
    ),
    "lastfm_track_info": RawRules(("artist_name", "track_name"), timestamps=("fetched_at",)),
    "lastfm_user_info": RawRules(("user_name",), timestamps=("registered_at", "fetched_at")),
    "spotify_tracks": RawRules(("track_id",), timestamps=("fetched_at",)),
    "spotify_artists": RawRules(("artist_id",), timestamps=("fetched_at",)),
    "spotify_track_matches": RawRules(("query_artist", "query_title"), timestamps=("fetched_at",)),
    "spotify_plays": RawRules(("user_name", "ended_at"), timestamps=("ended_at",)),
    "kaggle_tracks": RawRules(("track_id",), snapshot=True),
}


# --------------------------------------------------------------------------- rule helpers


def not_null(column: str) -> Rule:
    return Rule("ExpectColumnValuesToNotBeNull", {"column": column}, "not null")


def unique(column: str) -> Rule:
    return Rule("ExpectColumnValuesToBeUnique", {"column": column}, "unique")


def unique_together(*columns: str) -> Rule:
    return Rule(
        "ExpectCompoundColumnsToBeUnique",
        {"column_list": list(columns)},
        f"({', '.join(columns)}) unique",
    )


def in_range(column: str, low: dt.datetime, high: dt.datetime) -> Rule:
    return Rule(
        "ExpectColumnValuesToBeBetween",
        {"column": column, "min_value": low, "max_value": high},
        f"{low:%Y-%m-%d} .. {high:%Y-%m-%d %H:%M}Z",
    )


def share_at_least(column: str, minimum: float, severity: Severity = "critical") -> Rule:
    """The mean of a 0/1 column, i.e. the share of rows with the property, is >= minimum."""
    return Rule(
        "ExpectColumnMeanToBeBetween",
        {"column": column, "min_value": minimum, "max_value": 1.0},
        f"share >= {minimum:g}",
        severity,
    )


def row_count(previous: int | None, thresholds: Thresholds) -> Rule:
    """At least one row; within [min_row_ratio, max_row_ratio] x the previous successful
    run's count when there is one (and row bounds are on)."""
    if previous is None or not thresholds.row_bounds:
        return Rule("ExpectTableRowCountToBeBetween", {"min_value": 1}, "at least 1 row")
    low = max(1, math.ceil(previous * thresholds.min_row_ratio))
    high = max(low, math.floor(previous * thresholds.max_row_ratio))
    return Rule(
        "ExpectTableRowCountToBeBetween",
        {"min_value": low, "max_value": high},
        f"{low}..{high} rows (previous {previous})",
    )


def no_rows_where(condition: str, expected: str) -> Rule:
    """Rows matching `condition` (SQL written in this module) are violations."""
    query = f"select * from {{batch}} where {condition}"  # noqa: S608 - condition is code
    return Rule(
        "UnexpectedRowsExpectation",
        {"unexpected_rows_query": query, "description": expected},
        expected,
    )


# --------------------------------------------------------------------------- raw loads


@dataclass(frozen=True)
class RawBatch:
    """What a raw table received for a logical date."""

    table: str
    rows: int
    loaded_at: dt.datetime | None
    sources: tuple[str, ...] = field(default_factory=tuple)


def raw_batches(data: Warehouse, logical_date: dt.date) -> dict[str, RawBatch]:
    """Each raw table's rows for `logical_date` (tables without a batch are left out)."""
    batches: dict[str, RawBatch] = {}
    for name in RAW_TABLES:
        sources = data.read_sql(
            f"select _source, count(*) as n, max(_loaded_at) as loaded_at "  # noqa: S608
            f"from {RAW_SCHEMA}.{name} where _logical_date = %(day)s group by _source",
            {"day": logical_date},
            {"_source": pl.String(), "n": pl.Int64(), "loaded_at": pl.Datetime("us", "UTC")},
        )
        if sources.height:
            batches[name] = RawBatch(
                name,
                int(sources["n"].sum()),
                sources["loaded_at"].max(),  # type: ignore[arg-type]
                tuple(sorted(sources["_source"])),
            )
    return batches


def raw_asset_name(table: str) -> str:
    return f"{RAW_SCHEMA}.{table}"


def raw_specs(
    batches: Mapping[str, RawBatch],
    logical_date: dt.date,
    thresholds: Thresholds,
    previous_counts: Mapping[str, int],
    expected_tables: Iterable[str] = (),
) -> list[AssetSpec]:
    """The raw checkpoint: one query asset per table with a batch for `logical_date` (or
    reported loaded by a load task: then "at least 1 row" catches a batch that vanished)."""
    tables = sorted(set(batches) | {t for t in expected_tables if t in RAW_TABLES})
    end_of_day = dt.datetime.combine(logical_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    specs = []
    for table in tables:
        contract = RAW_RULES[table]
        batch = batches.get(table)
        # "In the future" = after the load (the check runs after it), or after the end of the
        # logical date for batches that cover it (a synthetic world or a backfilled day).
        ceiling = max(filter(None, [end_of_day, batch.loaded_at if batch else None]))
        ceiling += thresholds.clock_skew
        name = raw_asset_name(table)
        previous = previous_counts.get(name) if contract.snapshot else None
        rules = [row_count(previous, thresholds)]
        rules += [not_null(column) for column in contract.not_null]
        rules += [unique(column) for column in contract.unique]
        rules += [
            in_range(column, thresholds.timestamp_floor, ceiling) for column in contract.timestamps
        ]
        # SQL both warehouses run: names from code, the date as an ISO literal
        query = (
            f"select * from {RAW_SCHEMA}.{table} "  # noqa: S608
            f"where _logical_date = '{logical_date.isoformat()}'"
        )
        specs.append(AssetSpec(name, tuple(rules), query=query))
    return specs


# --------------------------------------------------------------------------- marts

MART_TABLES = ("fct_plays", "fct_first_plays", "dim_tracks", "dim_users", "fct_candidate_features")
TRACK_COVERAGE_ASSET = "marts.fct_plays_track_coverage"
# One row per play: does its track exist in dim_tracks, and does it carry metadata?
_TRACK_COVERAGE_QUERY = """
select case when t.track_key is not null then 1 else 0 end as track_known,
       case when t.genre is not null then 1 else 0 end as has_genre,
       case when t.danceability is not null then 1 else 0 end as has_audio_features
from marts.fct_plays as p
left join marts.dim_tracks as t on t.track_key = p.track_key
"""


def mart_asset_names() -> list[str]:
    return [f"{MARTS_SCHEMA}.{table}" for table in MART_TABLES]


def mart_specs(
    logical_date: dt.date,
    thresholds: Thresholds,
    previous_counts: Mapping[str, int],
    now: dt.datetime,
) -> list[AssetSpec]:
    """The marts checkpoint: keys, the label's invariants, play times, row counts and the
    share of plays matched to a known track."""
    end_of_day = dt.datetime.combine(logical_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    ceiling = max(now, end_of_day) + thresholds.clock_skew

    def counted(table: str, *rules: Rule) -> AssetSpec:
        name = f"{MARTS_SCHEMA}.{table}"
        return AssetSpec(
            name,
            (row_count(previous_counts.get(name), thresholds), *rules),
            schema=MARTS_SCHEMA,
            table=table,
        )

    return [
        counted(
            "fct_plays",
            not_null("play_id"),
            unique("play_id"),
            not_null("user_id"),
            not_null("track_key"),
            in_range("played_at", thresholds.timestamp_floor, ceiling),
        ),
        counted(
            "fct_first_plays",
            not_null("user_id"),
            not_null("track_key"),
            unique_together("user_id", "track_key"),
            Rule(
                "ExpectColumnValuesToBeInSet",
                {"column": "repeat_30d", "value_set": [0, 1]},
                "in {0, 1} or NULL",
            ),
            no_rows_where(
                "is_censored is null or (repeat_30d is null) <> is_censored",
                "repeat_30d NULL iff is_censored",
            ),
        ),
        counted("dim_tracks", not_null("track_key"), unique("track_key")),
        counted("dim_users", not_null("user_id"), unique("user_id")),
        counted(
            "fct_candidate_features",
            not_null("user_id"),
            not_null("track_key"),
            unique_together("user_id", "track_key"),
        ),
        AssetSpec(
            TRACK_COVERAGE_ASSET,
            (
                share_at_least("track_known", thresholds.min_known_track_share),
                share_at_least("has_genre", thresholds.min_metadata_share, "warning"),
                share_at_least("has_audio_features", thresholds.min_metadata_share, "warning"),
            ),
            query=_TRACK_COVERAGE_QUERY,
        ),
    ]
