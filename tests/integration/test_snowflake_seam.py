"""The Snowflake side of the warehouse seam (warehouse/seam.py) and its serving layer
(warehouse/snowflake_serving.py), with the real snowflake connector against a local
fakesnow server: bulk reads as Arrow with exact types, shards that partition the rows, bulk
writes through the stage, the loader's batch rules, and publishes made current atomically,
kept for rollback and pruned.

fakesnow cannot run GRANT or CREATE ROLE: the reader's grants are checked as text here and
are verified on paper only (README, "Running on Snowflake")."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tests.support.fakesnow_server import running_fakesnow
from warehouse import seam, snowflake, snowflake_serving
from warehouse.bulk import Select, Shard
from warehouse.raw_tables import RAW_TABLES

FAKESNOW_NOISE = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result")
pytestmark = [FAKESNOW_NOISE, pytest.mark.integration, pytest.mark.timeout(300)]
connector = pytest.importorskip("snowflake.connector")

DATABASE = "ENCORE_SEAM_TEST"  # fakesnow servers in one process share databases
AT = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def warehouse():
    with running_fakesnow() as params:
        conn = connector.connect(**params, database=DATABASE)
        try:
            cursor = conn.cursor()
            for statement in snowflake.ddl_statements(DATABASE):
                cursor.execute(statement)
            yield seam.of(conn)
        finally:
            conn.close()


def _scores(n: int, version: str = "m1") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "model_version": [version] * n,
            "user_id": [f"u{i % 7}" for i in range(n)],
            "track_key": [f"t{i}" for i in range(n)],
            "candidate_source": [None if i % 5 == 0 else "listened" for i in range(n)],
            "score": [i / n for i in range(n)],
            "scored_at": [AT] * n,
        }
    )


SCORE_COLUMNS = {
    "user_id": pl.String(),
    "track_key": pl.String(),
    "candidate_source": pl.String(),
    "score": pl.Float64(),
    "scored_at": pl.Datetime("us", "UTC"),
}


def test_the_seam_of_a_snowflake_connection_is_snowflake(warehouse) -> None:
    assert warehouse.dialect == "snowflake"
    assert warehouse.database == DATABASE
    with pytest.raises(TypeError, match="not a warehouse connection"):
        seam.of(object())


def test_a_frame_written_comes_back_with_exact_types(warehouse) -> None:
    assert warehouse.write_frame("ML", "SCORES", _scores(50)) == 50
    frame = warehouse.read_frame(
        Select("ML", "SCORES", SCORE_COLUMNS, not_null=("candidate_source",), order_by=("score",))
    )
    assert frame.schema == pl.Schema(SCORE_COLUMNS)
    assert frame.height == 40 and frame["score"].is_sorted()
    assert frame["scored_at"].unique().to_list() == [AT]
    whole = warehouse.read_frame(Select("ML", "SCORES", SCORE_COLUMNS))
    shards = [
        warehouse.read_frame(Select("ML", "SCORES", SCORE_COLUMNS, shard=Shard("user_id", i, 3)))
        for i in range(3)
    ]
    assert sorted(pl.concat(shards)["track_key"]) == sorted(whole["track_key"])
    users = [set(shard["user_id"]) for shard in shards]
    assert sum(len(u) for u in users) == len(set().union(*users)) == 7  # a user in one shard
    batches = list(warehouse.iter_frames(Select("ML", "SCORES", SCORE_COLUMNS), batch_rows=16))
    assert [batch.height for batch in batches] == [16, 16, 16, 2]


def test_json_text_is_written_as_variant_and_frames_append(warehouse) -> None:
    reasons = _scores(3, "json").with_columns(
        reason=pl.lit("because"), reason_features=pl.lit('[{"feature": "a", "said": true}]')
    )
    assert warehouse.write_frame("ML", "SCORES", reasons, json_columns=("reason_features",)) == 3
    rows = warehouse.read_sql(
        "select reason_features[0]:feature::varchar as feature, "
        "reason_features[0]:said::boolean as said, scored_at from ML.SCORES "
        "where model_version = 'json'",
        None,
    )
    assert rows["feature"].to_list() == ["a"] * 3 and rows["said"].to_list() == [True] * 3
    assert rows["scored_at"].to_list() == [AT] * 3
    with warehouse.appending("ML", "SCORES", list(_scores(0).columns)) as append:
        assert [append(_scores(n, "appended")) for n in (4, 5)] == [4, 5]
    ((appended,),) = warehouse.read_sql(
        "select count(*) from ML.SCORES where model_version = 'appended'", None
    ).rows()
    assert appended == 9


def test_an_empty_read_keeps_its_schema(warehouse) -> None:
    select = Select("ML", "SCORES", SCORE_COLUMNS, not_null=("model_version",), shard=None)
    empty = Select("RAW", "SYNTHETIC_USERS", {"user_id": pl.String()})
    assert warehouse.read_frame(empty).schema == pl.Schema({"user_id": pl.String()})
    assert warehouse.read_frame(select).height >= 0


def test_the_loader_through_the_seam_replaces_a_batch_and_keeps_its_quarantine(
    warehouse,
) -> None:
    table = RAW_TABLES["synthetic_users"]
    users = pl.DataFrame(
        {
            "user_id": ["a", "b"],
            "username": ["A", "B"],
            "country": ["SE", "NO"],
            "age_band": ["25-34", None],
            "signed_up_at": [AT, AT],
        }
    )
    rejected = pl.DataFrame({"user_id": ["c"], "_reason": ["signed_up_at: not a timestamp"]})
    day = dt.date(2026, 3, 1)
    for _ in range(2):  # a rerun replaces
        result = seam.load_batch(
            warehouse.conn, users, table, source="synthetic", logical_date=day, rejected=rejected
        )
    assert (result.rows_loaded, result.rows_rejected) == (2, 1)
    loaded = warehouse.read_frame(Select("RAW", "SYNTHETIC_USERS", {"user_id": pl.String()}))
    assert sorted(loaded["user_id"]) == ["a", "b"]
    cursor = warehouse.conn.cursor()
    rejected_rows = f"select count(*) from {DATABASE}.RAW_REJECTED.ROWS"  # noqa: S608
    cursor.execute(rejected_rows + " where _source = 'synthetic'")
    assert cursor.fetchone() == (1,)
    # a snapshot source replaces every earlier batch of the source
    seam.load_batch(
        warehouse.conn,
        users.head(1),
        table,
        source="synthetic",
        logical_date=dt.date(2026, 3, 2),
        replace="source",
    )
    loaded = warehouse.read_frame(Select("RAW", "SYNTHETIC_USERS", {"user_id": pl.String()}))
    assert loaded["user_id"].to_list() == ["a"]


RECOMMENDATIONS = f"""
select s.user_id, s.track_key,
       row_number() over (partition by s.user_id order by s.score desc, s.track_key) as rank,
       s.score, 'because' as reason, s.model_version, %(as_of)s as as_of
from {DATABASE}.ML.SCORES s
where s.model_version = %(version)s
qualify rank <= %(top_n)s
"""  # noqa: S608
TRACKS = f"""
select distinct r.track_key, 'name ' || r.track_key as track_name, 'artist' as artist_name,
       null as genre
from {DATABASE}.SERVING.RECOMMENDATION_SETS r
where r.publish_id = %(publish_id)s
"""  # noqa: S608


def _publish(warehouse, version: str, keep: int = 2) -> snowflake_serving.Published:
    return snowflake_serving.publish(
        warehouse.conn.cursor(),
        DATABASE,
        model_version=version,
        top_n=3,
        recommendations=RECOMMENDATIONS,
        tracks=TRACKS,
        params={"version": version, "top_n": 3, "as_of": AT},
        keep=keep,
    )


def _current(warehouse) -> tuple[set[str], int]:
    cursor = warehouse.conn.cursor()
    cursor.execute(f"select distinct model_version from {DATABASE}.SERVING.RECOMMENDATIONS")  # noqa: S608
    versions = {row[0] for row in cursor.fetchall()}
    cursor.execute(f"select count(*) from {DATABASE}.SERVING.TRACKS")  # noqa: S608
    return versions, cursor.fetchone()[0]


def test_publishes_switch_whole_roll_back_and_are_pruned(warehouse) -> None:
    for version, n in (("p1", 30), ("p2", 40), ("p3", 45)):
        warehouse.write_frame("ML", "SCORES", _scores(n, version))
    first = _publish(warehouse, "p1")
    assert (first.rows, first.users) == (21, 7)  # top 3 of each of 7 users
    assert _current(warehouse) == ({"p1"}, 21)
    second = _publish(warehouse, "p2")
    assert _current(warehouse) == ({"p2"}, 21)
    snowflake_serving.make_current(warehouse.conn.cursor(), DATABASE, first.publish_id)
    assert _current(warehouse) == ({"p1"}, 21)  # rolled back: both views together
    snowflake_serving.make_current(warehouse.conn.cursor(), DATABASE, second.publish_id)
    third = _publish(warehouse, "p3", keep=2)
    kept = snowflake_serving.publishes(warehouse.conn.cursor(), DATABASE)
    assert kept == [(second.publish_id, "p2", False), (third.publish_id, "p3", True)]
    with pytest.raises(LookupError, match="not kept"):
        snowflake_serving.make_current(warehouse.conn.cursor(), DATABASE, first.publish_id)
    with pytest.raises(LookupError, match="nothing to publish"):
        _publish(warehouse, "no-such-model")
    assert _current(warehouse) == ({"p3"}, 21)  # a failed publish changes nothing
    assert [k[0] for k in snowflake_serving.publishes(warehouse.conn.cursor(), DATABASE)] == [
        second.publish_id,
        third.publish_id,
    ]


def test_the_reader_grants_name_serving_only(warehouse) -> None:
    grants = warehouse.reader_grants("RECS_READER")
    assert grants[0] == "create role if not exists RECS_READER"
    assert all(
        f"{DATABASE}.SERVING" in g
        or g.endswith(f"database {DATABASE} to role RECS_READER")
        or " on warehouse " in g
        for g in grants[1:]
    )
    assert not any(schema in g for g in grants for schema in (".RAW", ".ML", ".MARTS"))
    with pytest.raises(ValueError, match="identifier"):
        warehouse.reader_grants("r; drop database x")
