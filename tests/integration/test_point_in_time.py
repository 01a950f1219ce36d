"""Point-in-time features: a play planted later cannot change any earlier pair's features.

Builds the feature marts on a small synthetic world, snapshots marts.fct_pair_features,
plants two plays into raw.synthetic_plays and rebuilds:

- a play later than every existing first play (it moves `as_of` and the user's observed
  window, which may change labels, never features);
- a play just after an early pair's first play, of a track that user never played (a new
  first play, a new session neighbour, a new co-listening pair and a new label closure,
  all after the planted instant).

Every feature column (ml.features.FEATURES) of every pair whose first play is strictly
earlier than the planted plays must be exactly the same.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import psycopg
import pytest

from ml.features import FEATURES
from tests.conftest import SMALL_WORLD
from tests.support.marts import run_dbt

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEYS = ["user_id", "track_key"]
PAIRS = "select * from marts.fct_pair_features"


def _dbt_run(warehouse_url: str, scratch: Path) -> None:
    """`dbt build` of the pair-features mart and everything upstream, models and seeds
    only (no tests: the point is the data), in-process."""
    run_dbt(
        warehouse_url,
        scratch,
        "build",
        "--select",
        "+fct_pair_features",
        "--resource-type",
        "model",
        "--resource-type",
        "seed",
    )


def _read(url: str, query: str, params: tuple = ()) -> pl.DataFrame:
    with psycopg.connect(url) as connection, connection.cursor() as cur:
        cur.execute(query, params)
        names = [column.name for column in cur.description]
        return pl.DataFrame(cur.fetchall(), schema=names, orient="row", infer_schema_length=None)


@pytest.fixture(scope="module")
def world(module_warehouse_url: str) -> str:
    from extract.synthetic import SyntheticConfig
    from extract.synthetic_load import generate_and_load

    with psycopg.connect(module_warehouse_url) as connection:
        generate_and_load(connection, SyntheticConfig(**SMALL_WORLD))
    return module_warehouse_url


def _plant(url: str, user_id: str, track_id: str, played_at: dt.datetime) -> None:
    """One more play in the synthetic world's current batch (same batch metadata)."""
    with psycopg.connect(url) as connection:
        connection.execute(
            """
            insert into raw.synthetic_plays
                (user_id, track_id, played_at, ms_played,
                 _batch_id, _source, _loaded_at, _logical_date)
            select %s, %s, %s, 200000, _batch_id, _source, _loaded_at, _logical_date
            from raw.synthetic_plays
            limit 1
            """,
            (user_id, track_id, played_at),
        )


def test_planted_plays_change_no_earlier_pair_feature(
    world: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _dbt_run(world, tmp_path_factory.mktemp("dbt_before"))
    before = _read(world, PAIRS)
    assert before.height > 1000

    # An early pair: the median first play. Its user gets a track they never played
    # (the most played such track, so its track features move for later pairs), 1 s after.
    early = before.sort("first_played_at").row(before.height // 2, named=True)
    user_id = early["user_id"]
    early_at: dt.datetime = early["first_played_at"]
    new_track = _read(
        world,
        """
        select p.track_key
        from intermediate.int_plays_sessionized as p
        where p.track_key like 'spotify:%%'
          and p.track_key not in (
              select track_key from intermediate.int_plays_sessionized where user_id = %s
          )
        group by p.track_key
        order by count(*) desc, p.track_key
        limit 1
        """,
        (user_id,),
    ).item()
    early_plant = early_at + dt.timedelta(seconds=1)
    _plant(world, user_id, new_track.removeprefix("spotify:"), early_plant)

    # A play later than every first play, of the user's first track (a repeat).
    latest = before.sort("first_played_at").row(-1, named=True)
    late_plant = latest["first_played_at"] + dt.timedelta(hours=1)
    _plant(world, latest["user_id"], latest["track_key"].removeprefix("spotify:"), late_plant)

    _dbt_run(world, tmp_path_factory.mktemp("dbt_after"))
    after = _read(world, PAIRS)

    # the rebuild saw the planted play: the new pair exists, with its first play then
    planted_pair = after.filter((pl.col("user_id") == user_id) & (pl.col("track_key") == new_track))
    assert planted_pair.height == 1
    assert planted_pair.item(0, "first_played_at") == early_plant

    cutoff = min(early_plant, late_plant)
    columns = [*KEYS, "first_played_at", *FEATURES]
    earlier_before = before.filter(pl.col("first_played_at") < cutoff).select(columns)
    earlier_after = after.filter(pl.col("first_played_at") < cutoff).select(columns)
    assert earlier_before.height > 100
    assert earlier_before.height == earlier_after.height

    joined = earlier_before.join(earlier_after, on=KEYS, how="full", suffix="_after")
    unmatched = joined.filter(pl.col("user_id").is_null() | pl.col("user_id_after").is_null())
    assert unmatched.height == 0
    changed = {}
    for name in ["first_played_at", *FEATURES]:
        left, right = pl.col(name), pl.col(f"{name}_after")
        differs = joined.filter(~left.eq_missing(right))
        if differs.height:
            changed[name] = differs.select(*KEYS, name, f"{name}_after").head(3).to_dicts()
    assert not changed, f"features of pairs earlier than the planted plays changed: {changed}"

    # and later pairs of that user do see the planted play (the test can fail)
    later = after.filter(
        (pl.col("user_id") == user_id) & (pl.col("first_played_at") > early_plant)
    ).sort("first_played_at")
    if later.height:
        previous = before.filter(
            (pl.col("user_id") == user_id) & (pl.col("first_played_at") > early_plant)
        ).sort("first_played_at")
        assert later.item(0, "user_prior_plays") == previous.item(0, "user_prior_plays") + 1
