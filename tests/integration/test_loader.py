"""The COPY loader against the real PostgreSQL: batches replace, never duplicate or half-land."""

from __future__ import annotations

import datetime as dt

import polars as pl
import psycopg
import pytest

from warehouse.bootstrap import bootstrap
from warehouse.loader import LoadResult, SchemaMismatch, load_batch
from warehouse.raw_tables import RAW_TABLES, SYNTHETIC_PLAYS

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 3, 1)
T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def plays(n: int, user: str = "u1") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": [user] * n,
            "track_id": [f"t{i % 7}" for i in range(n)],
            "played_at": [T0 + dt.timedelta(minutes=4 * i) for i in range(n)],
            "ms_played": [180_000] * n,
        }
    )


def batch_rows(conn: psycopg.Connection, source: str) -> list[tuple]:
    return conn.execute(
        "select user_id, track_id, played_at, ms_played, _logical_date "
        "from raw.synthetic_plays where _source = %s order by played_at, track_id",
        [source],
    ).fetchall()


def test_reloading_a_batch_replaces_it(conn: psycopg.Connection) -> None:
    first = load_batch(conn, plays(50), SYNTHETIC_PLAYS, source="t_replace", logical_date=DAY)
    again = load_batch(conn, plays(50), SYNTHETIC_PLAYS, source="t_replace", logical_date=DAY)
    third = load_batch(conn, plays(30), SYNTHETIC_PLAYS, source="t_replace", logical_date=DAY)
    rows = batch_rows(conn, "t_replace")
    assert (first.rows_loaded, again.rows_replaced, third.rows_replaced) == (50, 50, 50)
    assert len(rows) == 30
    assert rows[0][2] == T0
    batch_ids = conn.execute(
        "select distinct _batch_id from raw.synthetic_plays where _source = 't_replace'"
    ).fetchall()
    assert len(batch_ids) == 1


def test_other_dates_and_sources_are_untouched(conn: psycopg.Connection) -> None:
    load_batch(conn, plays(10), SYNTHETIC_PLAYS, source="t_keep", logical_date=DAY)
    load_batch(
        conn, plays(20), SYNTHETIC_PLAYS, source="t_keep", logical_date=DAY + dt.timedelta(days=1)
    )
    load_batch(conn, plays(5), SYNTHETIC_PLAYS, source="t_keep_other", logical_date=DAY)
    load_batch(conn, plays(15), SYNTHETIC_PLAYS, source="t_keep", logical_date=DAY)
    counts = dict(
        conn.execute(
            "select _logical_date, count(*) from raw.synthetic_plays where _source = 't_keep' "
            "group by 1"
        ).fetchall()
    )
    assert counts == {DAY: 15, DAY + dt.timedelta(days=1): 20}
    assert len(batch_rows(conn, "t_keep_other")) == 5


def test_values_survive_the_round_trip(conn: psycopg.Connection) -> None:
    frame = pl.DataFrame(
        {
            "user_id": ['ü,ser "quoted"', "tab\there", "line\nbreak", "back\\slash"],
            "track_id": ["a", None, "", "\\N"],
            "played_at": [T0, T0, T0 + dt.timedelta(microseconds=123456), T0],
            "ms_played": [1, None, 2_000_000_000, 0],
        }
    )
    load_batch(conn, frame, SYNTHETIC_PLAYS, source="t_roundtrip", logical_date=DAY)
    got = conn.execute(
        "select user_id, track_id, played_at, ms_played from raw.synthetic_plays "
        "where _source = 't_roundtrip' order by user_id"
    ).fetchall()
    expected = sorted(frame.rows(), key=lambda row: row[0])
    assert got == expected


def test_frames_that_do_not_match_the_declaration_are_refused(conn: psycopg.Connection) -> None:
    with pytest.raises(SchemaMismatch, match="missing"):
        load_batch(
            conn, plays(3).drop("ms_played"), SYNTHETIC_PLAYS, source="t_bad", logical_date=DAY
        )
    with pytest.raises(SchemaMismatch, match="unexpected"):
        load_batch(
            conn,
            plays(3).with_columns(pl.lit(1).alias("evil; drop table x")),
            SYNTHETIC_PLAYS,
            source="t_bad",
            logical_date=DAY,
        )
    with pytest.raises(SchemaMismatch, match="cast"):
        load_batch(
            conn,
            plays(3).with_columns(pl.lit("soon").alias("played_at")),
            SYNTHETIC_PLAYS,
            source="t_bad",
            logical_date=DAY,
        )


def test_rejected_rows_are_quarantined_with_their_reason(conn: psycopg.Connection) -> None:
    rejected = pl.DataFrame(
        {
            "user_id": ["u9", "u9"],
            "played_at": ["yesterday-ish", None],
            "_reason": ["unparseable timestamp", "missing timestamp"],
        }
    )
    for _ in range(2):  # a rerun replaces the quarantined rows too
        result = load_batch(
            conn,
            plays(4),
            SYNTHETIC_PLAYS,
            source="t_quarantine",
            logical_date=DAY,
            rejected=rejected,
        )
    assert result.rows_rejected == 2
    rows = conn.execute(
        "select _reason, record->>'played_at', _batch_id = %s from raw_rejected.rows "
        "where _source = 't_quarantine' order by _reason",
        [result.batch_id],
    ).fetchall()
    assert rows == [
        ("missing timestamp", None, True),
        ("unparseable timestamp", "yesterday-ish", True),
    ]


def test_a_batch_that_fails_half_way_leaves_the_previous_one(conn: psycopg.Connection) -> None:
    load_batch(conn, plays(40), SYNTHETIC_PLAYS, source="t_atomic", logical_date=DAY)
    before = batch_rows(conn, "t_atomic")
    # 300k good rows stream out in several COPY chunks before a NUL byte that PostgreSQL
    # rejects: the delete and the chunks already sent must all roll back.
    broken = pl.concat([plays(300_000), plays(1, user="bad\x00user")])
    with pytest.raises(psycopg.Error):
        load_batch(conn, broken, SYNTHETIC_PLAYS, source="t_atomic", logical_date=DAY)
    assert batch_rows(conn, "t_atomic") == before


def test_snapshot_sources_replace_all_their_batches(conn: psycopg.Connection) -> None:
    load_batch(conn, plays(10), SYNTHETIC_PLAYS, source="t_snapshot", logical_date=DAY)
    load_batch(conn, plays(7), SYNTHETIC_PLAYS, source="t_snapshot_other", logical_date=DAY)
    later = DAY + dt.timedelta(days=3)
    result = load_batch(
        conn, plays(4), SYNTHETIC_PLAYS, source="t_snapshot", logical_date=later, replace="source"
    )
    assert result.rows_replaced == 10
    assert {row[4] for row in batch_rows(conn, "t_snapshot")} == {later}
    assert len(batch_rows(conn, "t_snapshot")) == 4
    assert len(batch_rows(conn, "t_snapshot_other")) == 7


def test_snapshot_loads_replace_the_sources_quarantine_too(conn: psycopg.Connection) -> None:
    rejected = pl.DataFrame({"user_id": ["x"], "_reason": ["empty track"]})
    load_batch(
        conn,
        plays(2),
        SYNTHETIC_PLAYS,
        source="t_snapq",
        logical_date=DAY,
        rejected=rejected,
        replace="source",
    )
    load_batch(
        conn,
        plays(2),
        SYNTHETIC_PLAYS,
        source="t_snapq",
        logical_date=DAY + dt.timedelta(days=1),
        replace="source",
    )
    left = conn.execute("select count(*) from raw_rejected.rows where _source = 't_snapq'")
    assert left.fetchone()[0] == 0


def test_batches_are_found_by_a_brin_index(conn: psycopg.Connection) -> None:
    """A batch's delete finds its rows by a BRIN index on (_source, _logical_date), cheap to
    keep up during a COPY; a snapshot table (replaced whole at each load) keeps none; a
    warehouse bootstrapped with the earlier indexes loses the ones no longer wanted."""

    def batch_indexes(table: str) -> dict[str, str]:
        return dict(
            conn.execute(
                "select indexname, indexdef from pg_indexes where schemaname = 'raw' "
                "and tablename = %s",
                [table],
            ).fetchall()
        )

    assert batch_indexes("lastfm_scrobbles") == {
        "lastfm_scrobbles_batch_brin": (
            "CREATE INDEX lastfm_scrobbles_batch_brin ON raw.lastfm_scrobbles USING brin "
            "(_source, _logical_date) WITH (autosummarize='on')"
        )
    }
    assert RAW_TABLES["synthetic_plays"].snapshot
    assert batch_indexes("synthetic_plays") == {}
    conn.execute(
        "create index lastfm_scrobbles_batch_idx on raw.lastfm_scrobbles "
        "(_source, _logical_date); "
        "create index synthetic_plays_batch_brin on raw.synthetic_plays using brin "
        "(_source, _logical_date)"
    )
    conn.commit()
    bootstrap(conn)
    assert list(batch_indexes("lastfm_scrobbles")) == ["lastfm_scrobbles_batch_brin"]
    assert batch_indexes("synthetic_plays") == {}


def _filenode(conn: psycopg.Connection) -> int:
    return conn.execute("select pg_relation_filenode('raw.synthetic_plays')").fetchone()[0]


def test_a_snapshot_alone_in_its_table_is_replaced_by_truncate(
    module_conn: psycopg.Connection,
) -> None:
    """A snapshot reload empties the table with TRUNCATE (a new, empty file: no dead rows)
    when only its source has rows there, and deletes its own rows when another has some."""

    def load(source: str, n: int, day: dt.date) -> LoadResult:
        return load_batch(
            module_conn,
            plays(n),
            SYNTHETIC_PLAYS,
            source=source,
            logical_date=day,
            replace="source",
        )

    load("t_alone", 12, DAY)
    before = _filenode(module_conn)
    again = load("t_alone", 5, DAY + dt.timedelta(days=1))
    assert again.rows_replaced == 12
    assert _filenode(module_conn) != before
    assert len(batch_rows(module_conn, "t_alone")) == 5

    load("t_beside", 3, DAY)
    shared = _filenode(module_conn)
    third = load("t_alone", 4, DAY + dt.timedelta(days=2))
    assert third.rows_replaced == 5
    assert _filenode(module_conn) == shared  # deleted, not truncated
    assert len(batch_rows(module_conn, "t_alone")) == 4
    assert len(batch_rows(module_conn, "t_beside")) == 3


def test_a_snapshot_load_deletes_when_a_reader_holds_its_table(
    module_conn: psycopg.Connection, module_warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader in the middle of a transaction on the table keeps TRUNCATE's lock from being
    granted: after the lock timeout the load deletes the source's rows instead, and the
    reader is never blocked for longer than that."""
    import warehouse.loader as loader

    monkeypatch.setattr(loader, "TRUNCATE_LOCK_TIMEOUT", "100ms")
    module_conn.execute("delete from raw.synthetic_plays")
    module_conn.commit()
    load_batch(module_conn, plays(6), SYNTHETIC_PLAYS, source="t_read", logical_date=DAY)
    with psycopg.connect(module_warehouse_url) as reader:
        reader.execute("select count(*) from raw.synthetic_plays").fetchone()  # holds its lock
        before = _filenode(module_conn)
        result = load_batch(
            module_conn,
            plays(2),
            SYNTHETIC_PLAYS,
            source="t_read",
            logical_date=DAY,
            replace="source",
        )
        assert result.rows_replaced == 6
        assert _filenode(module_conn) == before
        reader.rollback()
    assert len(batch_rows(module_conn, "t_read")) == 2


def test_a_snapshot_load_that_fails_half_way_leaves_the_previous_world(
    module_conn: psycopg.Connection,
) -> None:
    """The TRUNCATE is part of the load's transaction: a COPY that fails after it (here on a
    NUL byte, after 300k good rows) rolls it back, and the previous world is all there."""
    module_conn.execute("delete from raw.synthetic_plays")
    module_conn.commit()
    load_batch(
        module_conn,
        plays(25),
        SYNTHETIC_PLAYS,
        source="t_world",
        logical_date=DAY,
        replace="source",
    )
    before = batch_rows(module_conn, "t_world")
    filenode = _filenode(module_conn)
    broken = pl.concat([plays(300_000), plays(1, user="bad\x00user")])
    with pytest.raises(psycopg.Error):
        load_batch(
            module_conn,
            broken,
            SYNTHETIC_PLAYS,
            source="t_world",
            logical_date=DAY,
            replace="source",
        )
    assert batch_rows(module_conn, "t_world") == before
    assert _filenode(module_conn) == filenode
