"""`dbt build` of the whole project on a small synthetic world, then the marts checked
against independent polars computations from `marts.fct_plays`.

Uses the `loaded_warehouse` fixture of tests/conftest.py: the URL of a fresh, bootstrapped
test database (also exported as WAREHOUSE_URL) whose raw.synthetic_* tables hold a small
synthetic world. dbt runs in-process through dbtRunner, with the profile's ENCORE_PG_*
variables derived from that URL, and writes its target/ and logs/ to a temp folder (the
project's own target/manifest.json, which Airflow reads, is left alone).

What is checked:
- `dbt build` succeeds: every model, data test and unit test;
- the label in marts.fct_first_plays equals, row for row, the definition of DESIGN.md
  recomputed in polars from marts.fct_plays;
- the rank-style features of marts.fct_pair_features (strictly earlier plays of the user and
  of the track, closed label windows of the user) equal an independent polars computation.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
import pytest

from ml.list_model import SOURCES
from tests.support.marts import run_dbt

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPEAT_WINDOW = dt.timedelta(days=30)  # dbt var repeat_window_days
KEYS = ["user_id", "track_key"]


def run_dbt_build(warehouse_url: str, scratch: Path):
    """`dbt build` of the whole project against `warehouse_url`, in-process, with target/ and
    logs/ under `scratch`; asserts it succeeded and returns dbt's result."""
    return run_dbt(warehouse_url, scratch, "build").result


@pytest.fixture(scope="module")
def dbt_build(loaded_warehouse: str, tmp_path_factory: pytest.TempPathFactory):
    """Run `dbt build` against the loaded test warehouse; returns dbt's result."""
    return run_dbt_build(loaded_warehouse, tmp_path_factory.mktemp("dbt"))


def _read(url: str, query: str) -> pl.DataFrame:
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        columns = [column.name for column in cur.description]
        return pl.DataFrame(cur.fetchall(), schema=columns, orient="row", infer_schema_length=None)


def test_dbt_build_runs_every_model_test_and_unit_test(dbt_build) -> None:
    kinds = {}
    for node_result in dbt_build.result:
        kind = node_result.node.resource_type
        kinds[str(kind)] = kinds.get(str(kind), 0) + 1
    assert kinds.get("model", 0) >= 20, kinds
    assert kinds.get("test", 0) >= 100, kinds
    assert kinds.get("unit_test", 0) >= 5, kinds


def expected_labels(plays: pl.DataFrame) -> pl.DataFrame:
    """DESIGN.md's label, straight from the definition: per (user, track) the first play and
    the next one; repeat_30d = 1 if the next is within 30 days (inclusive) of the first,
    else 0; NULL (censored) when first + 30 days is after the user's last play."""
    observed = plays.group_by("user_id").agg(pl.col("played_at").max().alias("observed_until"))
    pairs = (
        plays.sort("played_at")
        .group_by(KEYS)
        .agg(
            pl.col("played_at").first().alias("first_played_at"),
            pl.col("played_at").get(1, null_on_oob=True).alias("next_played_at"),
        )
        .join(observed, on="user_id")
    )
    window_end = pl.col("first_played_at") + REPEAT_WINDOW
    censored = window_end > pl.col("observed_until")
    return pairs.with_columns(
        censored.alias("is_censored"),
        pl.when(censored)
        .then(None)
        .when(pl.col("next_played_at").is_not_null() & (pl.col("next_played_at") <= window_end))
        .then(1)
        .otherwise(0)
        .cast(pl.Int32)
        .alias("repeat_30d"),
    )


def test_label_matches_an_independent_computation(dbt_build, loaded_warehouse: str) -> None:
    plays = _read(loaded_warehouse, "select user_id, track_key, played_at from marts.fct_plays")
    actual = _read(
        loaded_warehouse,
        "select user_id, track_key, first_played_at, next_played_at, observed_until, "
        "is_censored, repeat_30d from marts.fct_first_plays",
    ).with_columns(pl.col("repeat_30d").cast(pl.Int32))
    expected = expected_labels(plays)

    assert actual.height == expected.height
    assert actual.select(KEYS).n_unique() == actual.height, "one row per (user, track)"
    assert actual.join(expected, on=KEYS, how="anti").is_empty()
    assert expected.join(actual, on=KEYS, how="anti").is_empty()

    columns = ["first_played_at", "next_played_at", "observed_until", "is_censored", "repeat_30d"]
    both = actual.join(expected, on=KEYS, suffix="_expected")
    for column in columns:
        differs = both.filter(~pl.col(column).eq_missing(pl.col(f"{column}_expected")))
        assert differs.is_empty(), f"{column} differs:\n{differs.head(10)}"

    # A label that is all one value, or never censored, would prove little.
    counts = actual.group_by("repeat_30d").len()
    assert set(counts["repeat_30d"].to_list()) == {0, 1, None}, counts
    assert ((actual["repeat_30d"].is_null()) == actual["is_censored"]).all()


def test_pair_features_are_point_in_time(dbt_build, loaded_warehouse: str) -> None:
    """Counts over strictly earlier plays, recomputed with ranks (ties share the lowest
    rank, so a play at the same instant is never 'prior'), and closed label windows
    counted with a sorted search per user."""
    plays = _read(loaded_warehouse, "select user_id, track_key, played_at from marts.fct_plays")
    features = _read(
        loaded_warehouse,
        "select user_id, track_key, first_played_at, user_prior_plays, user_prior_tracks, "
        "track_prior_plays, track_prior_listeners, user_prior_labelled_pairs, "
        "user_hours_since_prev_play from marts.fct_pair_features",
    )
    first_plays = _read(
        loaded_warehouse,
        "select user_id, track_key, first_played_at from marts.fct_first_plays",
    )

    prior = (
        plays.with_columns(
            (pl.col("played_at").rank("min").over("user_id") - 1).alias("exp_user_prior_plays"),
            (pl.col("played_at").rank("min").over("track_key") - 1).alias("exp_track_prior_plays"),
        )
        .group_by(KEYS)
        .agg(
            # the pair's first play: the smallest count (ties at the first instant are equal)
            pl.col("exp_user_prior_plays").min(),
            pl.col("exp_track_prior_plays").min(),
        )
    )
    firsts = first_plays.with_columns(
        (pl.col("first_played_at").rank("min").over("user_id") - 1).alias("exp_user_prior_tracks"),
        (pl.col("first_played_at").rank("min").over("track_key") - 1).alias(
            "exp_track_prior_listeners"
        ),
    )

    # the user's first plays whose window closed at or before this first play
    closed = []
    for _user, group in first_plays.group_by(["user_id"]):
        closes = np.sort((group["first_played_at"] + REPEAT_WINDOW).to_numpy())
        counts = np.searchsorted(closes, group["first_played_at"].to_numpy(), side="right")
        closed.append(
            group.select(KEYS).with_columns(
                pl.Series("exp_user_prior_labelled_pairs", counts, dtype=pl.Int64)
            )
        )
    closed_frame = pl.concat(closed)

    # hours since the user's previous play strictly before the first play
    previous = (
        plays.select("user_id", "played_at")
        .unique()
        .sort("user_id", "played_at")
        .with_columns(pl.col("played_at").shift(1).over("user_id").alias("previous_at"))
    )
    hours = (
        first_plays.join(
            previous, left_on=["user_id", "first_played_at"], right_on=["user_id", "played_at"]
        )
        .with_columns(
            (
                (pl.col("first_played_at") - pl.col("previous_at")).dt.total_microseconds() / 3.6e9
            ).alias("exp_user_hours_since_prev_play")
        )
        .select(*KEYS, "exp_user_hours_since_prev_play")
    )

    checked = (
        features.join(prior, on=KEYS)
        .join(firsts.drop("first_played_at"), on=KEYS)
        .join(closed_frame, on=KEYS)
        .join(hours, on=KEYS)
    )
    assert checked.height == features.height == first_plays.height

    for name in (
        "user_prior_plays",
        "track_prior_plays",
        "user_prior_tracks",
        "track_prior_listeners",
        "user_prior_labelled_pairs",
    ):
        differs = checked.filter(pl.col(name) != pl.col(f"exp_{name}"))
        assert differs.is_empty(), f"{name} differs:\n{differs.head(10)}"

    hours_differ = checked.filter(
        (
            pl.col("user_hours_since_prev_play").is_null()
            != pl.col("exp_user_hours_since_prev_play").is_null()
        )
        | (
            (pl.col("user_hours_since_prev_play") - pl.col("exp_user_hours_since_prev_play")).abs()
            > 1e-6
        )
    )
    assert hours_differ.is_empty(), f"user_hours_since_prev_play differs:\n{hours_differ.head()}"


def test_candidates_cover_every_active_user(dbt_build, loaded_warehouse: str) -> None:
    candidates = _read(
        loaded_warehouse,
        "select user_id, track_key, candidate_source, as_of from marts.fct_candidate_features",
    )
    plays = _read(loaded_warehouse, "select user_id, played_at from marts.fct_plays")
    clocks = _read(
        loaded_warehouse,
        "select user_id, clock, clock_source from intermediate.int_listener_clocks",
    )
    # the synthetic world is a live source: every listener's clock is its run date
    assert set(clocks["clock_source"].to_list()) == {"run_date"}
    timed = plays.join(clocks, on="user_id")
    active = set(
        timed.filter(
            (pl.col("played_at") > pl.col("clock") - dt.timedelta(days=30))
            & (pl.col("played_at") <= pl.col("clock"))
        )["user_id"]
    )

    assert candidates.select(KEYS).n_unique() == candidates.height
    as_of = candidates.select("user_id", "as_of").unique().join(clocks, on="user_id")
    assert (as_of["as_of"] == as_of["clock"]).all() and as_of.height == len(active)
    assert set(candidates["user_id"].unique().to_list()) == active
    per_user = candidates.group_by("user_id").len()
    assert per_user["len"].min() >= 20
    assert set(candidates["candidate_source"].unique().to_list()) <= set(SOURCES)


def test_serving_view_reads_published_recommendations(dbt_build, loaded_warehouse: str) -> None:
    """The view adds names to what ml/ publishes: a real publish of hand-made scores, rolled
    back afterwards."""
    from ml.publish import publish

    with psycopg.connect(loaded_warehouse) as conn:
        conn.execute(
            """
            insert into ml.scores (model_version, user_id, track_key, candidate_source, score)
            select 'test-model', user_id, track_key, candidate_source,
                   1.0 / row_number() over (order by track_key)
            from (
                select user_id, track_key, candidate_source from marts.fct_candidate_features
                where user_id = (select min(user_id) from marts.fct_candidate_features)
                order by track_key
                limit 5
            ) as picked
            """
        )
        assert publish(conn, model_version="test-model", top_n=5) == 5
        rows = conn.execute(
            "select rank, track_name, artist_name, genre from serving.user_recommendations "
            "order by rank"
        ).fetchall()
        conn.rollback()
    assert [row[0] for row in rows] == [1, 2, 3, 4, 5]
    assert all(row[1] and row[2] and row[3] for row in rows), rows


# Each point-in-time check (a dbt singular test), the mart it samples and how, and one wrong
# value per grain it recomputes at; the candidate check names the grain that failed.
PAIR_SAMPLE = "md5(user_id || '|' || track_key) like '00%'"
CANDIDATE_SAMPLE = "md5(user_id || '|' || track_key || '|0') like '00%'"
PLANTED_ERRORS = [
    (
        "assert_pair_features_point_in_time",
        "fct_pair_features",
        PAIR_SAMPLE,
        "user_prior_plays",
        None,
    ),
    (
        "assert_pair_features_point_in_time",
        "fct_pair_features",
        PAIR_SAMPLE,
        "user_prior_tracks",
        None,
    ),
    (
        "assert_pair_features_point_in_time",
        "fct_pair_features",
        PAIR_SAMPLE,
        "user_hours_since_prev_play",
        None,
    ),
    (
        "assert_pair_features_point_in_time",
        "fct_pair_features",
        PAIR_SAMPLE,
        "track_plays_28d",
        None,
    ),
    (
        "assert_candidate_features_as_of",
        "fct_candidate_features",
        CANDIDATE_SAMPLE,
        "user_prior_plays",
        "listener features as of as_of",
    ),
    (
        "assert_candidate_features_as_of",
        "fct_candidate_features",
        CANDIDATE_SAMPLE,
        "user_plays_30d",
        "listener features as of as_of",
    ),
    (
        "assert_candidate_features_as_of",
        "fct_candidate_features",
        CANDIDATE_SAMPLE,
        "track_prior_listeners",
        "track features as of as_of",
    ),
    (
        "assert_candidate_features_as_of",
        "fct_candidate_features",
        CANDIDATE_SAMPLE,
        "user_track_plays_30d",
        "as_of, pair features or outcome",
    ),
    (
        "assert_candidate_features_as_of",
        "fct_candidate_features",
        CANDIDATE_SAMPLE,
        "user_track_plays_decayed_30d",
        "as_of, pair features or outcome",
    ),
]


@pytest.mark.parametrize(("check", "mart", "sample", "column", "failed_check"), PLANTED_ERRORS)
def test_point_in_time_checks_catch_a_planted_error(
    dbt_build,
    loaded_warehouse: str,
    check: str,
    mart: str,
    sample: str,
    column: str,
    failed_check: str | None,
) -> None:
    """The check as dbt compiled it, run against its mart with one sampled row's feature off
    by one, inside a transaction that is rolled back: the row comes back as a mismatch."""
    [compiled] = [
        node_result.node.compiled_code
        for node_result in dbt_build.result
        if node_result.node.name == check
    ]
    with psycopg.connect(loaded_warehouse) as conn:
        assert conn.execute(compiled).fetchall() == []  # the built marts pass
        user_id, track_key = conn.execute(
            f"select user_id, track_key from marts.{mart} where {sample} "  # noqa: S608
            "order by user_id, track_key limit 1"
        ).fetchone()
        conn.execute(
            f"update marts.{mart} set {column} = {column} + 1 "  # noqa: S608
            "where user_id = %s and track_key = %s",
            (user_id, track_key),
        )
        cursor = conn.execute(compiled)
        failures = [
            dict(zip([c.name for c in cursor.description], row, strict=True))
            for row in cursor.fetchall()
        ]
        conn.rollback()
    assert failures, f"{check} missed a wrong {column}"
    assert all(
        row["user_id"] in (user_id, None) and row["track_key"] in (track_key, None)
        for row in failures
    ), failures
    if failed_check is not None:
        assert {row["failed_check"] for row in failures} == {failed_check}, failures
