"""Serving: versioned, atomic publishes under concurrent readers; rollback and retention;
the read-only role; index range scans over clustered rows; the upgrade from the table layout.

All against real PostgreSQL, in a database of this module's own, with small hand-made marts
and scores (the publish SQL reads ml.scores, marts.fct_candidate_features, marts.dim_tracks
and marts.fct_plays; nothing else is needed).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from ml.publish import prune, publish, rollback
from warehouse.bootstrap import READER_ROLE, bootstrap

pytestmark = pytest.mark.integration

USERS = 400
CANDIDATES = 30
TRACKS = 600
# A distinct list length per model version: a reader that mixed two publishes would see it.
TOP_N = {"m1": 20, "m2": 15, "m3": 12, "m4": 10}


def seed_serving_world(conn: psycopg.Connection, versions=tuple(TOP_N)) -> None:
    """Minimal marts and ml.scores for `versions`: USERS users x CANDIDATES candidates."""
    conn.execute("""
        create table if not exists marts.dim_tracks (
            track_key text primary key, track_name text, artist_name text, genre text);
        create table if not exists marts.fct_candidate_features (
            user_id text, track_key text, as_of timestamptz, candidate_source text, genre text,
            user_genre_share double precision, user_artist_prior_tracks bigint,
            user_artist_prior_plays bigint, track_plays_28d bigint);
        create table if not exists marts.fct_plays (
            user_id text, track_key text, played_at timestamptz)
    """)
    conn.execute("""
        insert into marts.dim_tracks
        select format('spotify:t%%s', lpad(g::text, 5, '0')), format('Track %%s', g),
               format('Artist %%s', g %% 50), (array['rock','pop','jazz'])[1 + g %% 3]
        from generate_series(1, %(tracks)s) g
        on conflict do nothing
    """, {"tracks": TRACKS})
    conn.execute("""
        insert into marts.fct_candidate_features
        select format('u%%s', lpad(u::text, 5, '0')),
               format('spotify:t%%s', lpad((1 + (u * 7 + c * 13) %% %(tracks)s)::text, 5, '0')),
               timestamptz '2026-06-01',
               (array['listened', 'popular_in_genre', 'popular'])[1 + c %% 3],
               (array['rock','pop','jazz'])[1 + c %% 3], (c %% 5) / 5.0, c %% 4, c %% 6, c %% 9
        from generate_series(1, %(users)s) u, generate_series(0, %(candidates)s - 1) c
        where not exists (select 1 from marts.fct_candidate_features)
    """, {"users": USERS, "candidates": CANDIDATES, "tracks": TRACKS})
    conn.execute("""
        insert into marts.fct_plays
        select user_id, track_key, as_of - interval '3 days' from marts.fct_candidate_features
        where candidate_source = 'listened' and not exists (select 1 from marts.fct_plays)
    """)
    for version in versions:
        conn.execute("""
            insert into ml.scores (model_version, user_id, track_key, candidate_source, score)
            select %(v)s, user_id, track_key, candidate_source,
                   (hashtext(%(v)s || user_id || track_key)::bigint + 2147483648) / 4294967296.0
            from marts.fct_candidate_features
            on conflict do nothing
        """, {"v": version})
    conn.commit()


def reader_url(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{READER_ROLE}@{parts.hostname}{port}").geturl()


@pytest.fixture(scope="module")
def world(module_warehouse_url: str) -> str:
    with psycopg.connect(module_warehouse_url) as conn:
        seed_serving_world(conn)
    return module_warehouse_url


@pytest.fixture
def owner(world: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(world, autocommit=True) as conn:
        yield conn


def _current(conn: psycopg.Connection) -> tuple:
    return conn.execute("select publish_id, model_version, generated_at, rows, users "
                        "from serving.publishes where is_current").fetchone()


TOP_QUERY = ("select user_id, track_key, rank, score, model_version, generated_at "
             "from serving.recommendations where user_id = %s order by rank limit %s")


# ------------------------------------------------------------------------------ publishing


def test_publish_is_a_clustered_indexed_partition(owner) -> None:
    rows = publish(owner, model_version="m1", top_n=TOP_N["m1"])
    assert rows == USERS * TOP_N["m1"]
    publish_id, version, generated_at, registered_rows, users = _current(owner)
    assert (version, registered_rows, users) == ("m1", rows, USERS)
    table = f"recommendations_v{publish_id}"

    # generated_at and model_version on every row, equal to the registry's
    assert owner.execute(
        "select count(*), count(distinct (model_version, generated_at)), min(model_version), "
        "min(generated_at) from serving.recommendations "
        "where model_version is not null and generated_at is not null").fetchone() == (
        rows, 1, "m1", generated_at)

    # Physically clustered: rows were loaded in (user_id, rank) order.
    (correlation,) = owner.execute(
        "select correlation from pg_stats where schemaname = 'serving' and tablename = %s "
        "and attname = 'user_id'", [table]).fetchone()
    print(f"pg_stats correlation of user_id on serving.{table}: {correlation:.4f}")
    assert correlation > 0.99

    # Top-N for one user: an index range scan on the current publish's partition.
    plan = owner.execute("explain (analyze, format json) " + TOP_QUERY,
                         ["u00042", 20]).fetchone()[0]
    nodes = list(_plan_nodes(plan[0]["Plan"]))
    on_sets = [n for n in nodes if str(n.get("Relation Name", "")).startswith("recommendations_v")]
    executed = [n for n in on_sets if n.get("Actual Loops", 0) > 0]
    print("top-N plan:", json.dumps([(n["Node Type"], n.get("Relation Name"), n.get("Index Name"),
                                      n.get("Actual Loops")) for n in on_sets]))
    assert [(n["Node Type"], n["Relation Name"]) for n in executed] == [("Index Scan", table)]
    assert executed[0]["Index Name"] == f"{table}_pkey"
    assert not [n for n in on_sets if n["Node Type"] in ("Seq Scan", "Bitmap Heap Scan")]
    assert executed[0]["Actual Rows"] == 20


def _plan_nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_concurrent_readers_see_whole_publishes(world, owner) -> None:
    publish(owner, model_version="m1", top_n=TOP_N["m1"])
    stop = threading.Event()
    errors: list[str] = []
    seen: Counter[str] = Counter()
    slowest = [0.0]

    def read(worker: int) -> None:
        user = f"u{1 + worker * 37:05d}"
        try:
            with psycopg.connect(world, autocommit=True) as conn:
                while not stop.is_set():
                    started = time.monotonic()
                    rows = conn.execute(TOP_QUERY, [user, 20]).fetchall()
                    total, versions, stamps, users, version = conn.execute(
                        "select count(*), count(distinct model_version), "
                        "count(distinct generated_at), count(distinct user_id), "
                        "min(model_version) from serving.recommendations").fetchone()
                    (orphans,) = conn.execute(
                        "select count(*) from serving.recommendations r "
                        "left join serving.tracks t using (track_key) "
                        "where t.track_key is null").fetchone()
                    slowest[0] = max(slowest[0], time.monotonic() - started)
                    top_version = rows[0][4] if rows else None
                    n = TOP_N.get(top_version, -1)
                    if [r[2] for r in rows] != list(range(1, n + 1)):
                        errors.append(f"{user}: ranks {[r[2] for r in rows]} ({top_version})")
                    if len({(r[4], r[5]) for r in rows}) != 1:
                        errors.append(f"{user}: mixed versions in one list")
                    if (versions, stamps, users) != (1, 1, USERS) or \
                            total != USERS * TOP_N[version]:
                        errors.append(f"count {total}, {versions} versions, {users} users")
                    if orphans:
                        errors.append(f"{orphans} recommendations without their track row")
                    seen[top_version] += 1
        except Exception as exc:  # surfaced by the assertion below
            errors.append(repr(exc))

    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    timings = []
    try:
        for version in ("m2", "m3", "m4", "m1"):
            started = time.monotonic()
            publish(owner, model_version=version, top_n=TOP_N[version], keep=3)
            timings.append(round(time.monotonic() - started, 2))
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    print(f"reads per version: {dict(seen)}; publish seconds: {timings}; "
          f"slowest read: {slowest[0]:.3f} s")
    assert not errors, errors[:5]
    assert sum(seen.values()) > 20
    assert len(seen) >= 3  # readers really ran across publishes
    assert _current(owner)[1] == "m1"


def test_rollback_and_retention(world, owner, monkeypatch, capsys) -> None:
    ids = {}
    for version in ("m1", "m2", "m3", "m4"):
        publish(owner, model_version=version, top_n=TOP_N[version], keep=3)
        ids[version] = _current(owner)[0]
    kept = owner.execute("select publish_id, model_version from serving.publishes "
                         "where dropped_at is null order by publish_id").fetchall()
    assert kept == [(ids["m2"], "m2"), (ids["m3"], "m3"), (ids["m4"], "m4")]
    # Older publishes are gone, tables and all; every kept one still has its tables.
    tables = {name for (name,) in owner.execute(
        "select tablename from pg_tables where schemaname = 'serving' "
        "and tablename ~ '^(recommendations|tracks)_v[0-9]+$'")}
    assert tables == {f"{kind}_v{ids[v]}" for kind in ("recommendations", "tracks")
                      for v in ("m2", "m3", "m4")}

    # Default: the publish before the current one.
    back = rollback(owner)
    assert (back.publish_id, back.model_version) == (ids["m3"], "m3")
    m3_generated = owner.execute("select generated_at from serving.publishes "
                                 "where publish_id = %s", [ids["m3"]]).fetchone()[0]
    assert owner.execute(
        "select count(*), min(model_version), max(model_version), min(generated_at), "
        "max(generated_at) from serving.recommendations").fetchone() == (
        USERS * TOP_N["m3"], "m3", "m3", m3_generated, m3_generated)
    # By model version, by publish id (the CLI), and not to a dropped publish.
    assert rollback(owner, to="m2").publish_id == ids["m2"]
    monkeypatch.setenv("WAREHOUSE_URL", world)
    from ml.__main__ import main

    assert main(["rollback", "--to", str(ids["m4"])]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["publish_id"], out["model_version"]) == (ids["m4"], "m4")
    assert _current(owner)[:2] == (ids["m4"], "m4")
    with pytest.raises(LookupError):
        rollback(owner, to=str(ids["m1"]))
    owner.rollback()
    with pytest.raises(LookupError):
        rollback(owner, to="no-such-model")
    owner.rollback()

    # The current publish is never dropped, even when it is older than the newest `keep`.
    rollback(owner, to="m2")
    publish(owner, model_version="m1", top_n=TOP_N["m1"], keep=1)
    assert prune(owner, keep=1) == []
    assert owner.execute("select count(*) from serving.publishes "
                         "where dropped_at is null").fetchone() == (1,)
    rollback(owner, to="m1")  # already current: a no-op, still allowed
    with pytest.raises(LookupError):
        rollback(owner)  # nothing older is kept
    owner.rollback()


# ---------------------------------------------------------------------------- recs_reader


@pytest.fixture
def reader(world: str) -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(reader_url(world), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"cannot connect as {READER_ROLE} without a password here: {exc}")
    with conn:
        yield conn


def test_reader_reads_serving_and_nothing_else(world, owner, reader) -> None:
    if not owner.execute("select 1 from serving.publishes where is_current").fetchone():
        publish(owner, model_version="m1", top_n=TOP_N["m1"])
    owner.execute("create or replace view serving.user_recommendations as "
                  "select r.*, t.track_name from serving.recommendations r "
                  "left join serving.tracks t using (track_key)")
    owner.execute("create table if not exists public.scratch (x int)")
    owner.commit()

    assert reader.execute("select current_user").fetchone() == (READER_ROLE,)
    assert reader.execute("select count(*) from serving.recommendations").fetchone()[0] > 0
    assert reader.execute("select count(*) from serving.user_recommendations "
                          "where track_name is not null").fetchone()[0] > 0
    assert reader.execute("select count(*) from serving.publishes").fetchone()[0] > 0

    # The catalog's answer for every table, view and sequence of the database.
    privileges = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"
    relations = owner.execute(
        "select n.nspname, c.relname, c.relkind, "
        "array(select p from unnest(string_to_array(%s, ', ')) p "
        "      where has_table_privilege(%s, c.oid, p)) "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S') "
        "and n.nspname not in ('pg_catalog', 'information_schema') "
        "and n.nspname not like 'pg_toast%%'", [privileges, READER_ROLE]).fetchall()
    schemas = {row[0] for row in relations}
    assert {"raw", "raw_rejected", "marts", "ml", "serving", "public"} <= schemas
    for schema, name, kind, granted in relations:
        expected = ["SELECT"] if schema == "serving" and kind != "S" else []
        assert granted == expected, f"{schema}.{name}: {granted}"
    creatable = owner.execute(
        "select nspname from pg_namespace where has_schema_privilege(%s, oid, 'CREATE')",
        [READER_ROLE]).fetchall()
    assert creatable == []
    assert owner.execute("select has_database_privilege(%s, current_database(), 'CREATE')",
                         [READER_ROLE]).fetchone() == (False,)

    # And what the server actually does when it tries.
    for query in ("select * from raw.synthetic_plays limit 1", "select * from marts.dim_tracks",
                  "select * from ml.scores limit 1", "select * from raw_rejected.rows limit 1",
                  "select * from public.scratch"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute(query)
    # Sessions start read-only; even after switching that off, every write is refused.
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        reader.execute("create temp table t (x int)")
    reader.execute("set default_transaction_read_only = off")
    for statement in (
        "insert into serving.recommendation_sets (publish_id, user_id, track_key, rank, score, "
        "reason, model_version, generated_at) values (999, 'x', 'y', 1, 0.5, 'r', 'v', now())",
        "update serving.publishes set is_current = false",
        "delete from serving.recommendation_sets",
        "truncate serving.publishes",
        "create table serving.mine (x int)",
        "create view serving.mine as select 1 as x",
        "create table public.mine (x int)",
        "create schema mine",
        "insert into raw_rejected.rows (_batch_id, _source, _logical_date, table_name, "
        "_reason, record) values (gen_random_uuid(), 's', current_date, 't', 'r', '{}')",
        "drop view serving.recommendations",
        "alter table serving.publishes add column x int",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute(statement)
    # Role defaults that keep a forgotten session from holding locks.
    settings = owner.execute("select rolconfig from pg_roles where rolname = %s",
                             [READER_ROLE]).fetchone()[0]
    assert "default_transaction_read_only=on" in settings
    assert any(s.startswith("idle_in_transaction_session_timeout=") for s in settings)


# ------------------------------------------------------------------------------ migration


OLD_LAYOUT = """
create table serving.recommendations (
    user_id text not null, track_key text not null, rank integer not null check (rank >= 1),
    score double precision not null check (score between 0 and 1), reason text not null,
    model_version text not null, generated_at timestamptz not null,
    primary key (user_id, rank), unique (user_id, track_key));
create table serving.tracks (
    track_key text primary key, track_name text, artist_name text, genre text,
    model_version text not null, generated_at timestamptz not null);
insert into serving.recommendations
select format('old%s', u), format('spotify:t%s', lpad((u * 10 + r)::text, 5, '0')), r,
       1.0 / (r + 1), 'old reason', 'm-old', timestamptz '2026-05-01 12:00+00'
from generate_series(1, 5) u, generate_series(1, 20) r;
insert into serving.tracks
select distinct track_key, 'Old ' || track_key, 'Old Artist', 'rock', 'm-old',
       timestamptz '2026-05-01 12:00+00' from serving.recommendations;
-- what dbt built over the old tables
create view serving.user_recommendations as
select r.user_id, r.rank, r.track_key, t.track_name, t.artist_name, t.genre, r.score,
       r.reason, r.model_version, r.generated_at
from serving.recommendations r left join serving.tracks t on r.track_key = t.track_key;
create view serving.client_view as select user_id, count(*) as n
from serving.user_recommendations group by user_id;
"""


@pytest.fixture
def old_warehouse(warehouse_url: str) -> Iterator[str]:  # (the session creates the role)
    from tests.conftest import _admin_url, _create_database, _drop_database

    admin = _admin_url()
    url = _create_database(admin, suffix="serving_migration")
    with psycopg.connect(url) as conn:
        conn.execute("create schema serving; create schema marts; create schema ml")
        conn.execute(OLD_LAYOUT)
        conn.execute("grant usage on schema serving to recs_reader; "
                     "grant select on serving.user_recommendations to recs_reader")
    yield url
    _drop_database(admin, url)


def test_bootstrap_upgrades_the_table_layout(old_warehouse) -> None:
    with psycopg.connect(old_warehouse) as conn:
        before = conn.execute("select * from serving.user_recommendations "
                              "order by user_id, rank").fetchall()
        started = time.monotonic()
        bootstrap(conn)
        print(f"migration: {time.monotonic() - started:.2f} s")
        kinds = dict(conn.execute(
            "select relname, relkind from pg_class where relnamespace = 'serving'::regnamespace "
            "and relname in ('recommendations', 'tracks', 'user_recommendations', "
            "'recommendations_legacy', 'tracks_legacy')").fetchall())
        assert kinds == {"recommendations": "v", "tracks": "v", "user_recommendations": "v"}
        # The old rows are publish 1, current; the views read them through the new layout.
        assert conn.execute("select publish_id, model_version, rows, users, is_current "
                            "from serving.publishes").fetchall() == [(1, "m-old", 100, 5, True)]
        after = conn.execute("select * from serving.user_recommendations "
                             "order by user_id, rank").fetchall()
        assert after == before
        assert conn.execute("select count(*) from serving.client_view").fetchone() == (5,)

        # Bootstrap again: nothing changes.
        bootstrap(conn)
        assert conn.execute("select count(*) from serving.publishes").fetchone() == (1,)

        # A new publish reaches the old dependent views; the old publish can be dropped.
        conn.commit()
        seed_serving_world(conn, versions=("m1",))
        publish(conn, model_version="m1", top_n=5, keep=1)
        assert conn.execute("select count(*), min(model_version), count(track_name) "
                            "from serving.user_recommendations").fetchone() == (
            USERS * 5, "m1", USERS * 5)
        assert conn.execute("select count(*) from serving.client_view").fetchone() == (USERS,)
        assert conn.execute("select to_regclass('serving.recommendations_v1')").fetchone() == (
            None,)
    with psycopg.connect(reader_url(old_warehouse), autocommit=True) as reader:
        assert reader.execute("select count(*) from serving.user_recommendations").fetchone() \
            == (USERS * 5,)
