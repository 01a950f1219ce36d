"""`bench.recency_rules`: the offline grading of recency rules at past cut-offs."""

from __future__ import annotations

import math

import polars as pl
import pytest

from bench.recency_rules import RULES, rule_ndcg

RECENT = "plays in 30 days (recent_plays)"
DECAYED = "exp 30 d"


def plays(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    """(listener, track, age in days from the listener's clock)."""
    return pl.DataFrame(rows, schema=["user_id", "track_key", "age_days"], orient="row")


def test_cutoff_shifts_each_listeners_clock_and_grades_the_next_30_days() -> None:
    # cut-off 1 is the clock minus 30 days: "a" was played 35 and 40 days before the clock
    # (5 and 10 days before the cut-off) and again 10 days before the clock (relevant);
    # "b" was played 32 days before the clock, never again.
    frame = plays([("u", "a", 35.0), ("u", "a", 40.0), ("u", "a", 10.0), ("u", "b", 32.0)])
    scores = rule_ndcg(frame, cutoff=1, candidate_days=30)
    assert set(scores) == set(RULES)
    # every rule puts "a" (two plays) above "b" (one, older): the only relevant track first
    assert all(value == pytest.approx(1.0) for value in scores.values())


def test_recency_beats_counts_when_the_older_track_is_not_replayed() -> None:
    # "old": 3 plays 25-29 days before the cut-off; "new": 2 plays 1 day before; only "new"
    # is played again. The 30-day count ranks "old" first, the 30-day decay "new".
    frame = plays(
        [
            *(("u", "old", 30.0 + age) for age in (25.0, 27.0, 29.0)),
            ("u", "new", 31.0),
            ("u", "new", 31.5),
            ("u", "new", 5.0),
        ]
    )
    scores = rule_ndcg(frame, cutoff=1, candidate_days=30)
    assert scores[DECAYED] == pytest.approx(1.0)
    assert scores[RECENT] == pytest.approx(1.0 / math.log2(3))


def test_candidate_pool_drops_tracks_last_played_before_it() -> None:
    # "a" was last played 60 days before the cut-off and replayed after it: outside a
    # 30-day pool the list cannot hold it (NDCG 0); a 90-day pool or the whole history can.
    frame = plays([("u", "a", 90.0), ("u", "a", 10.0), ("u", "b", 35.0), ("u", "b", 15.0)])
    narrow = rule_ndcg(frame, cutoff=1, candidate_days=30)
    wide = rule_ndcg(frame, cutoff=1, candidate_days=90)
    whole = rule_ndcg(frame, cutoff=1, candidate_days=0)
    assert narrow[DECAYED] == pytest.approx(1.0 / (1.0 + 1.0 / math.log2(3)))
    assert wide[DECAYED] == pytest.approx(1.0) and whole[DECAYED] == pytest.approx(1.0)
