"""The quality rules as data: declared columns exist, bounds are computed as documented,
and the failure message is a readable table. No database, no great_expectations import."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid

import pytest

from quality.config import TIMESTAMP_FLOOR, Thresholds
from quality.errors import QualityCheckFailed
from quality.runner import _snake, sqlalchemy_url
from quality.suites import RAW_RULES, RawBatch, mart_specs, raw_specs, row_count
from quality.summary import CheckpointSummary, ExpectationOutcome
from warehouse.raw_tables import RAW_TABLES

DAY = dt.date(2026, 6, 1)


def test_every_raw_table_has_rules_on_declared_columns() -> None:
    assert set(RAW_RULES) == set(RAW_TABLES)
    for name, rules in RAW_RULES.items():
        columns = set(RAW_TABLES[name].column_names)
        assert {*rules.not_null, *rules.unique, *rules.timestamps} <= columns, name


def test_row_count_bounds_follow_the_previous_run() -> None:
    assert row_count(None, Thresholds()).kwargs == {"min_value": 1}
    assert row_count(1000, Thresholds()).kwargs == {"min_value": 500, "max_value": 2000}
    assert row_count(1000, Thresholds(row_bounds=False)).kwargs == {"min_value": 1}
    assert row_count(1, Thresholds()).kwargs == {"min_value": 1, "max_value": 2}


def test_raw_timestamps_may_not_pass_the_load_or_the_logical_day() -> None:
    loaded = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
    batches = {"synthetic_plays": RawBatch("synthetic_plays", 10, loaded, ("synthetic",))}
    (spec,) = raw_specs(batches, DAY, Thresholds(), {"raw.synthetic_plays": 8})
    between = [r for r in spec.rules if r.expectation == "ExpectColumnValuesToBeBetween"]
    assert [(r.kwargs["min_value"], r.kwargs["max_value"]) for r in between] == [
        (TIMESTAMP_FLOOR, loaded + dt.timedelta(minutes=10))
    ]
    assert "where _logical_date = '2026-06-01'" in (spec.query or "")
    assert spec.rules[0].kwargs == {"min_value": 4, "max_value": 16}
    # Incremental sources have no ratio bound; a reported table without a batch is checked.
    specs = raw_specs(
        {},
        DAY,
        Thresholds(),
        {"raw.lastfm_scrobbles": 5},
        expected_tables=["lastfm_scrobbles", "not_a_raw_table"],
    )
    assert [(s.name, s.rules[0].kwargs) for s in specs] == [
        ("raw.lastfm_scrobbles", {"min_value": 1})
    ]


def test_mart_rules_cover_keys_label_and_coverage() -> None:
    specs = {s.name: s for s in mart_specs(DAY, Thresholds(), {}, dt.datetime.now(dt.UTC))}
    first_plays = {(r.expectation, r.column) for r in specs["marts.fct_first_plays"].rules}
    assert ("ExpectCompoundColumnsToBeUnique", "user_id,track_key") in first_plays
    assert ("ExpectColumnValuesToBeInSet", "repeat_30d") in first_plays
    severities = {r.column: r.severity for r in specs["marts.fct_plays_track_coverage"].rules}
    assert severities == {
        "track_known": "critical",
        "has_genre": "warning",
        "has_audio_features": "warning",
    }


def test_helpers() -> None:
    assert _snake("ExpectColumnValuesToBeUnique") == "expect_column_values_to_be_unique"
    assert sqlalchemy_url("postgresql://u@h:1/d") == "postgresql+psycopg://u@h:1/d"
    assert sqlalchemy_url("postgres://u@h:1/d") == "postgresql+psycopg://u@h:1/d"
    assert sqlalchemy_url("postgresql://u@h:1/d?sslmode=disable", search_path="raw") == (
        "postgresql+psycopg://u@h:1/d?sslmode=disable&options=-csearch_path%3Draw"
    )


def test_importing_the_package_does_not_import_great_expectations() -> None:
    """DAG parsing imports nothing heavy: GE (about 8 s) is imported only when a run starts."""
    code = (
        "import sys, quality, quality.checkpoints, quality.__main__; "
        "sys.exit('great_expectations' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_failure_message_is_a_table_with_the_next_step() -> None:
    now = dt.datetime.now(dt.UTC)
    failed = ExpectationOutcome(
        "marts.fct_plays",
        "expect_column_values_to_be_unique",
        "play_id",
        {"column": "play_id"},
        "critical",
        False,
        "unique",
        observed="2/100 rows",
        unexpected_count=2,
        examples=["abc", "abc"],
    )
    warned = ExpectationOutcome(
        "marts.x",
        "expect_column_mean_to_be_between",
        "has_genre",
        {},
        "warning",
        False,
        "share >= 0.5",
        observed=0.1,
    )
    summary = CheckpointSummary(uuid.uuid4(), "marts", DAY, now, now, (failed, warned))
    assert summary.failures == [failed] and summary.warnings == [warned]
    message = str(QualityCheckFailed(summary))
    assert "FAILED" in message and "1 failed, 1 warnings" in message
    assert "marts.fct_plays" in message and "abc" in message and "has_genre" not in message
    assert f"run_id = '{summary.run_id}'" in message
    with pytest.raises(QualityCheckFailed):
        raise QualityCheckFailed(summary)
