"""Serving: versioned, atomic publishes under concurrent readers; rollback and retention;
the read-only role; index range scans over clustered rows; the upgrade from the table layout.

All against real PostgreSQL, in a database of this module's own, with small hand-made marts
and scores (the publish SQL reads ml.scores, marts.fct_candidate_features, marts.dim_tracks
and marts.fct_plays; nothing else is needed).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import jinja2
import psycopg
import pytest
from psycopg import sql

from ml.publish import coverage, prune, publish, publishes, rollback
from warehouse.bootstrap import bootstrap
from warehouse.paths import dbt_project_dir
from warehouse.serving import READER_ROLE

pytestmark = pytest.mark.integration

USERS = 400
CANDIDATES = 30
TRACKS = 600
# A distinct list length per model version: a reader that mixed two publishes would see it.
TOP_N = {"m1": 20, "m2": 15, "m3": 12, "m4": 10}


def seed_serving_world(conn: psycopg.Connection, versions=tuple(TOP_N)) -> None:
    """Minimal marts and ml.scores for `versions`: USERS users x CANDIDATES candidates, each
    user with a clock (`as_of`) of their own, in five different years."""
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
    conn.execute(
        """
        insert into marts.dim_tracks
        select format('spotify:t%%s', lpad(g::text, 5, '0')), format('Track %%s', g),
               format('Artist %%s', g %% 50), (array['rock','pop','jazz'])[1 + g %% 3]
        from generate_series(1, %(tracks)s) g
        on conflict do nothing
    """,
        {"tracks": TRACKS},
    )
    conn.execute(
        """
        insert into marts.fct_candidate_features
        select format('u%%s', lpad(u::text, 5, '0')),
               format('spotify:t%%s', lpad((1 + (u * 7 + c * 13) %% %(tracks)s)::text, 5, '0')),
               timestamptz '2026-06-01 18:30+00' - (u %% 5) * interval '400 days',
               (array['listened', 'popular_in_genre', 'popular'])[1 + c %% 3],
               (array['rock','pop','jazz'])[1 + c %% 3], (c %% 5) / 5.0, c %% 4, c %% 6, c %% 9
        from generate_series(1, %(users)s) u, generate_series(0, %(candidates)s - 1) c
        where not exists (select 1 from marts.fct_candidate_features)
    """,
        {"users": USERS, "candidates": CANDIDATES, "tracks": TRACKS},
    )
    conn.execute("""
        insert into marts.fct_plays
        select user_id, track_key, as_of - interval '3 days' from marts.fct_candidate_features
        where candidate_source = 'listened' and not exists (select 1 from marts.fct_plays)
    """)
    for version in versions:
        conn.execute(
            """
            insert into ml.scores (model_version, user_id, track_key, candidate_source, score)
            select %(v)s, user_id, track_key, candidate_source,
                   (hashtext(%(v)s || user_id || track_key)::bigint + 2147483648) / 4294967296.0
            from marts.fct_candidate_features
            on conflict do nothing
        """,
            {"v": version},
        )
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
    return conn.execute(
        "select publish_id, model_version, generated_at, rows, users "
        "from serving.publishes where is_current"
    ).fetchone()


TOP_QUERY = (
    "select user_id, track_key, rank, score, model_version, generated_at "
    "from serving.recommendations where user_id = %s order by rank limit %s"
)


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
        "where model_version is not null and generated_at is not null"
    ).fetchone() == (rows, 1, "m1", generated_at)

    # Physically clustered: rows were loaded in (user_id, rank) order.
    (correlation,) = owner.execute(
        "select correlation from pg_stats where schemaname = 'serving' and tablename = %s "
        "and attname = 'user_id'",
        [table],
    ).fetchone()
    print(f"pg_stats correlation of user_id on serving.{table}: {correlation:.4f}")
    assert correlation > 0.99

    # Top-N for one user: an index range scan on the current publish's partition.
    plan = owner.execute("explain (analyze, format json) " + TOP_QUERY, ["u00042", 20]).fetchone()[
        0
    ]
    nodes = list(_plan_nodes(plan[0]["Plan"]))
    on_sets = [n for n in nodes if str(n.get("Relation Name", "")).startswith("recommendations_v")]
    executed = [n for n in on_sets if n.get("Actual Loops", 0) > 0]
    print(
        "top-N plan:",
        json.dumps(
            [
                (n["Node Type"], n.get("Relation Name"), n.get("Index Name"), n.get("Actual Loops"))
                for n in on_sets
            ]
        ),
    )
    assert [(n["Node Type"], n["Relation Name"]) for n in executed] == [("Index Scan", table)]
    assert executed[0]["Index Name"] == f"{table}_pkey"
    assert not [n for n in on_sets if n["Node Type"] in ("Seq Scan", "Bitmap Heap Scan")]
    assert executed[0]["Actual Rows"] == 20


def _plan_nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


# ------------------------------------------------------------------- as_of and coverage


def dbt_user_recommendations_sql() -> str:
    """dbt's serving/user_recommendations.sql rendered as dbt would on PostgreSQL (its
    sources are plain serving.* names), without running dbt (whose other models may be
    mid-change): the view clients read, exactly as the model file defines it."""
    text = (dbt_project_dir() / "models" / "serving" / "user_recommendations.sql").read_text()
    return jinja2.Template(text).render(
        config=lambda **_: "", source=lambda schema, table: f"{schema}.{table}"
    )


def create_dbt_view(conn: psycopg.Connection) -> None:
    """The view as dbt builds it now (over an older definition: its columns plus as_of)."""
    conn.execute(
        "create or replace view serving.user_recommendations as " + dbt_user_recommendations_sql()
    )


CLOCKS = """
select user_id, max(as_of) as as_of, count(distinct as_of) as clocks, count(*) as candidates
from marts.fct_candidate_features group by user_id
"""


def test_every_row_is_as_of_its_listeners_clock(owner) -> None:
    publish(owner, model_version="m1", top_n=TOP_N["m1"])
    create_dbt_view(owner)
    try:
        for view in ("recommendations", "user_recommendations"):
            rows, matching, users, clocks = owner.execute(
                sql.SQL(
                    "select count(*), count(*) filter (where r.as_of = c.as_of and c.clocks = 1), "
                    "count(distinct r.user_id), count(distinct r.as_of) "
                    "from serving.{} r left join (" + CLOCKS + ") c using (user_id)"
                ).format(sql.Identifier(view))
            ).fetchone()
            assert (rows, matching, users) == (USERS * TOP_N["m1"], rows, USERS), view
            assert clocks == 5, view  # clocks years apart: each user's own, not a global one
        # The column's type and place in the client views.
        for view in ("recommendations", "user_recommendations"):
            columns = owner.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'serving' and table_name = %s order by ordinal_position",
                [view],
            ).fetchall()
            assert columns[-1] == ("as_of", "timestamp with time zone"), view
        # NOT NULL in the contract: the parent and every partition.
        assert owner.execute(
            "select count(*), bool_and(a.attnotnull) from pg_attribute a "
            "where a.attname = 'as_of' and a.attrelid in ("
            "  select 'serving.recommendation_sets'::regclass union all "
            "  select inhrelid from pg_inherits "
            "  where inhparent = 'serving.recommendation_sets'::regclass)"
        ).fetchone()[1]
    finally:
        owner.execute("drop view serving.user_recommendations")


def test_coverage_when_everyone_is_scored(owner, caplog) -> None:
    caplog.set_level(logging.INFO, logger="ml.publish")
    rows = publish(owner, model_version="m2", top_n=TOP_N["m2"])
    assert rows == USERS * TOP_N["m2"]
    (with_candidates,) = owner.execute(
        "select count(distinct user_id) from marts.fct_candidate_features"
    ).fetchone()
    expected = {
        "top_n": TOP_N["m2"],
        "listeners_with_candidates": with_candidates,
        "listeners_published": with_candidates,
        "listeners_left_out": 0,
        "left_out": [],
        "listeners_short": 0,
        "short_lists": [],
        "scored_not_candidates": 0,
    }
    assert with_candidates == USERS
    assert coverage(owner) == expected
    current = [p for p in publishes(owner) if p.is_current]
    assert len(current) == 1 and current[0].coverage == expected
    assert current[0].users == with_candidates
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(
        f"{USERS} of {USERS} listeners with candidates published, 0 left out" in r.getMessage()
        for r in caplog.records
    )


def test_coverage_gaps_are_counted_and_logged(world, caplog) -> None:
    """Listeners left out (no scores; no clock), short lists (scores for only some
    candidates), scores of a user who is not a candidate listener, and lists of
    min(top_n, scored candidates) rows: all in one publish, inside a transaction that is
    rolled back afterwards (the module's world is left as it was)."""
    caplog.set_level(logging.INFO, logger="ml.publish")
    top_n = 10
    with psycopg.connect(world) as conn:
        # m-gap: users 1..300 fully scored, 301..350 five candidates each, 351..400 none.
        conn.execute("""
            insert into ml.scores (model_version, user_id, track_key, candidate_source, score)
            select 'm-gap', user_id, track_key, candidate_source, score from (
                select s.*, row_number() over (partition by user_id order by track_key) as n
                from ml.scores s where model_version = 'm1') s
            where user_id <= 'u00300' or (user_id <= 'u00350' and n <= 5)
        """)
        # u00001 has 3 candidates left (and 3 scores): a full list is 3 rows, not short.
        conn.execute(
            "delete from marts.fct_candidate_features where user_id = 'u00001' and "
            "track_key not in (select track_key from marts.fct_candidate_features "
            "where user_id = 'u00001' order by track_key limit 3)"
        )
        conn.execute(
            "delete from ml.scores where model_version = 'm-gap' and user_id = "
            "'u00001' and track_key not in (select track_key from "
            "marts.fct_candidate_features where user_id = 'u00001')"
        )
        # u00002 has scores but no clock; 'ghost' has scores but no candidates.
        conn.execute(
            "update marts.fct_candidate_features set as_of = null where user_id = 'u00002'"
        )
        conn.execute(
            "insert into ml.scores (model_version, user_id, track_key, score) "
            "values ('m-gap', 'ghost', 'spotify:t00001', 0.9)"
        )
        rows = publish(conn, model_version="m-gap", top_n=top_n)  # in this transaction
        per_user = dict(
            conn.execute(
                "select user_id, count(*) from serving.recommendations group by user_id"
            ).fetchall()
        )
        covered = coverage(conn)
        conn.rollback()

    assert per_user["u00001"] == 3
    assert {per_user[f"u{u:05d}"] for u in range(3, 301)} == {top_n}
    assert {per_user[f"u{u:05d}"] for u in range(301, 351)} == {5}
    assert "u00002" not in per_user and "ghost" not in per_user
    assert not [u for u in per_user if u > "u00350"]
    assert rows == sum(per_user.values()) == 3 + 298 * top_n + 50 * 5
    assert covered == {
        "top_n": top_n,
        "listeners_with_candidates": USERS,
        "listeners_published": 349,
        "listeners_left_out": 51,
        "left_out": [
            {
                "reason": "no scores for this model version",
                "listeners": 50,
                "sample": [f"u{u:05d}" for u in range(351, 371)],
            },
            {
                "reason": "no clock: as_of is NULL in marts.fct_candidate_features",
                "listeners": 1,
                "sample": ["u00002"],
            },
        ],
        "listeners_short": 50,
        "short_lists": [
            {
                "reason": "scores for only some of their candidates",
                "listeners": 50,
                "sample": [f"u{u:05d}" for u in range(301, 321)],
            }
        ],
        "scored_not_candidates": 1,
    }
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "left out 50 of 400 listeners with candidates: no scores for this model "
        "version (e.g. u00351" in w
        for w in warnings
    ), warnings
    assert any("left out 1 of 400" in w and "no clock" in w for w in warnings), warnings
    assert any(
        "gave 50 listeners fewer than min(10, their candidates) rows" in w for w in warnings
    ), warnings


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
                        "min(model_version) from serving.recommendations"
                    ).fetchone()
                    (orphans,) = conn.execute(
                        "select count(*) from serving.recommendations r "
                        "left join serving.tracks t using (track_key) "
                        "where t.track_key is null"
                    ).fetchone()
                    slowest[0] = max(slowest[0], time.monotonic() - started)
                    top_version = rows[0][4] if rows else None
                    n = TOP_N.get(top_version, -1)
                    if [r[2] for r in rows] != list(range(1, n + 1)):
                        errors.append(f"{user}: ranks {[r[2] for r in rows]} ({top_version})")
                    if len({(r[4], r[5]) for r in rows}) != 1:
                        errors.append(f"{user}: mixed versions in one list")
                    if (versions, stamps, users) != (1, 1, USERS) or total != USERS * TOP_N[
                        version
                    ]:
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
    print(
        f"reads per version: {dict(seen)}; publish seconds: {timings}; "
        f"slowest read: {slowest[0]:.3f} s"
    )
    assert not errors, errors[:5]
    assert sum(seen.values()) > 20
    assert len(seen) >= 3  # readers really ran across publishes
    assert _current(owner)[1] == "m1"


def test_rollback_and_retention(world, owner, monkeypatch, capsys) -> None:
    ids = {}
    for version in ("m1", "m2", "m3", "m4"):
        publish(owner, model_version=version, top_n=TOP_N[version], keep=3)
        ids[version] = _current(owner)[0]
    kept = owner.execute(
        "select publish_id, model_version from serving.publishes "
        "where dropped_at is null order by publish_id"
    ).fetchall()
    assert kept == [(ids["m2"], "m2"), (ids["m3"], "m3"), (ids["m4"], "m4")]
    # Older publishes are gone, tables and all; every kept one still has its tables.
    tables = {
        name
        for (name,) in owner.execute(
            "select tablename from pg_tables where schemaname = 'serving' "
            "and tablename ~ '^(recommendations|tracks)_v[0-9]+$'"
        )
    }
    assert tables == {
        f"{kind}_v{ids[v]}" for kind in ("recommendations", "tracks") for v in ("m2", "m3", "m4")
    }

    # Default: the publish before the current one.
    back = rollback(owner)
    assert (back.publish_id, back.model_version) == (ids["m3"], "m3")
    m3_generated = owner.execute(
        "select generated_at from serving.publishes where publish_id = %s", [ids["m3"]]
    ).fetchone()[0]
    assert owner.execute(
        "select count(*), min(model_version), max(model_version), min(generated_at), "
        "max(generated_at) from serving.recommendations"
    ).fetchone() == (USERS * TOP_N["m3"], "m3", "m3", m3_generated, m3_generated)
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
    assert owner.execute(
        "select count(*) from serving.publishes where dropped_at is null"
    ).fetchone() == (1,)
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
    owner.execute(
        "create or replace view serving.user_recommendations as "
        "select r.*, t.track_name from serving.recommendations r "
        "left join serving.tracks t using (track_key)"
    )
    owner.execute("create table if not exists public.scratch (x int)")
    owner.commit()

    assert reader.execute("select current_user").fetchone() == (READER_ROLE,)
    assert reader.execute("select count(*) from serving.recommendations").fetchone()[0] > 0
    assert (
        reader.execute(
            "select count(*) from serving.user_recommendations where track_name is not null"
        ).fetchone()[0]
        > 0
    )
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
        "and n.nspname not like 'pg_toast%%'",
        [privileges, READER_ROLE],
    ).fetchall()
    schemas = {row[0] for row in relations}
    assert {"raw", "raw_rejected", "marts", "ml", "serving", "public"} <= schemas
    for schema, name, kind, granted in relations:
        expected = ["SELECT"] if schema == "serving" and kind != "S" else []
        assert granted == expected, f"{schema}.{name}: {granted}"
    creatable = owner.execute(
        "select nspname from pg_namespace where has_schema_privilege(%s, oid, 'CREATE')",
        [READER_ROLE],
    ).fetchall()
    assert creatable == []
    assert owner.execute(
        "select has_database_privilege(%s, current_database(), 'CREATE')", [READER_ROLE]
    ).fetchone() == (False,)

    # And what the server actually does when it tries.
    for query in (
        "select * from raw.synthetic_plays limit 1",
        "select * from marts.dim_tracks",
        "select * from ml.scores limit 1",
        "select * from raw_rejected.rows limit 1",
        "select * from public.scratch",
    ):
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
    settings = owner.execute(
        "select rolconfig from pg_roles where rolname = %s", [READER_ROLE]
    ).fetchone()[0]
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
        conn.execute(
            "grant usage on schema serving to recs_reader; "
            "grant select on serving.user_recommendations to recs_reader"
        )
    yield url
    _drop_database(admin, url)


def test_bootstrap_upgrades_the_table_layout(old_warehouse) -> None:
    with psycopg.connect(old_warehouse) as conn:
        before = conn.execute(
            "select * from serving.user_recommendations order by user_id, rank"
        ).fetchall()
        started = time.monotonic()
        bootstrap(conn)
        print(f"migration: {time.monotonic() - started:.2f} s")
        kinds = dict(
            conn.execute(
                "select relname, relkind from pg_class"
                " where relnamespace = 'serving'::regnamespace "
                "and relname in ('recommendations', 'tracks', 'user_recommendations', "
                "'recommendations_legacy', 'tracks_legacy')"
            ).fetchall()
        )
        assert kinds == {"recommendations": "v", "tracks": "v", "user_recommendations": "v"}
        # The old rows are publish 1, current; the views read them through the new layout.
        assert conn.execute(
            "select publish_id, model_version, rows, users, is_current from serving.publishes"
        ).fetchall() == [(1, "m-old", 100, 5, True)]
        after = conn.execute(
            "select * from serving.user_recommendations order by user_id, rank"
        ).fetchall()
        assert after == before
        # Their clock was never recorded: each row's as_of is its generated_at.
        assert conn.execute(
            "select count(*) filter (where as_of = generated_at) from serving.recommendations"
        ).fetchone() == (100,)
        assert conn.execute("select count(*) from serving.client_view").fetchone() == (5,)

        # Bootstrap again: nothing changes.
        bootstrap(conn)
        assert conn.execute("select count(*) from serving.publishes").fetchone() == (1,)

        # A new publish reaches the old dependent views; the old publish can be dropped.
        conn.commit()
        seed_serving_world(conn, versions=("m1",))
        publish(conn, model_version="m1", top_n=5, keep=1)
        assert conn.execute(
            "select count(*), min(model_version), count(track_name) "
            "from serving.user_recommendations"
        ).fetchone() == (USERS * 5, "m1", USERS * 5)
        assert conn.execute("select count(*) from serving.client_view").fetchone() == (USERS,)
        assert conn.execute("select to_regclass('serving.recommendations_v1')").fetchone() == (
            None,
        )
    with psycopg.connect(reader_url(old_warehouse), autocommit=True) as reader:
        assert reader.execute("select count(*) from serving.user_recommendations").fetchone() == (
            USERS * 5,
        )


# The versioned layout as it was before `as_of` and `coverage` (warehouse/bootstrap.py then),
# with two publishes made as ml/publish.py made them, the view dbt built over it and a
# client's view over that.
PARTITIONED_BEFORE_AS_OF = """
create table serving.publishes (
    publish_id bigint generated always as identity primary key,
    model_version text not null, generated_at timestamptz not null, top_n integer not null,
    rows bigint not null default 0, users bigint not null default 0,
    tracks bigint not null default 0, is_current boolean not null default false,
    published_at timestamptz, dropped_at timestamptz);
create unique index publishes_one_current on serving.publishes ((true)) where is_current;
create table serving.recommendation_sets (
    publish_id bigint not null, user_id text not null, track_key text not null,
    rank integer not null check (rank >= 1),
    score double precision not null check (score between 0 and 1), reason text not null,
    model_version text not null, generated_at timestamptz not null,
    primary key (publish_id, user_id, rank), unique (publish_id, user_id, track_key)
) partition by list (publish_id);
create table serving.track_sets (
    publish_id bigint not null, track_key text not null, track_name text, artist_name text,
    genre text, model_version text not null, generated_at timestamptz not null,
    primary key (publish_id, track_key)
) partition by list (publish_id);
create view serving.recommendations as
select r.user_id, r.track_key, r.rank, r.score, r.reason, r.model_version, r.generated_at
from serving.recommendation_sets as r
where r.publish_id = (select p.publish_id from serving.publishes as p where p.is_current);
create view serving.tracks as
select t.track_key, t.track_name, t.artist_name, t.genre, t.model_version, t.generated_at
from serving.track_sets as t
where t.publish_id = (select p.publish_id from serving.publishes as p where p.is_current);
"""

OLD_PUBLISH = """
insert into serving.publishes (model_version, generated_at, top_n, is_current, published_at)
values ({version}, {generated_at}, 20, false, {generated_at});
create table serving.{recs} (like serving.recommendation_sets including defaults
                             including constraints);
insert into serving.{recs}
select {id}, format('old%s', u), format('spotify:t%s', lpad((u * 10 + r)::text, 5, '0')), r,
       1.0 / (r + 1), 'old reason', {version}, {generated_at}
from generate_series(1, 5) u, generate_series(1, 20) r order by 2, 4;
create table serving.{tracks} (like serving.track_sets including defaults including constraints);
insert into serving.{tracks}
select distinct {id}, track_key, 'Old ' || track_key, 'Old Artist', 'rock', {version},
       {generated_at} from serving.{recs};
alter table serving.{recs} add primary key (publish_id, user_id, rank),
    add unique (publish_id, user_id, track_key), add constraint {recs_check}
    check (publish_id = {id});
alter table serving.{tracks} add primary key (publish_id, track_key),
    add constraint {tracks_check} check (publish_id = {id});
alter table serving.recommendation_sets attach partition serving.{recs} for values in ({id});
alter table serving.track_sets attach partition serving.{tracks} for values in ({id});
update serving.publishes set rows = 100, users = 5,
    tracks = (select count(*) from serving.{tracks}) where publish_id = {id};
"""

OLD_PUBLISHES = {
    1: ("m-old1", datetime(2026, 4, 1, 12, tzinfo=UTC)),
    2: ("m-old2", datetime(2026, 5, 1, 12, tzinfo=UTC)),
}


@pytest.fixture
def warehouse_before_as_of(warehouse_url: str) -> Iterator[str]:
    """A warehouse bootstrapped before `as_of`: the old serving layout with publishes 1 and 2
    (2 current), dbt's view and a client's view over them, the reader's grants."""
    from tests.conftest import _admin_url, _create_database, _drop_database
    from warehouse.bootstrap import _STATIC_DDL, SCHEMAS

    admin = _admin_url()
    url = _create_database(admin, suffix="serving_as_of")
    with psycopg.connect(url) as conn:
        for schema in SCHEMAS:
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        conn.execute(_STATIC_DDL)
        conn.execute(PARTITIONED_BEFORE_AS_OF)
        for publish_id, (version, generated_at) in OLD_PUBLISHES.items():
            conn.execute(
                sql.SQL(OLD_PUBLISH).format(
                    id=sql.Literal(publish_id),
                    version=sql.Literal(version),
                    generated_at=sql.Literal(generated_at),
                    recs=sql.Identifier(f"recommendations_v{publish_id}"),
                    tracks=sql.Identifier(f"tracks_v{publish_id}"),
                    recs_check=sql.Identifier(f"recommendations_v{publish_id}_publish"),
                    tracks_check=sql.Identifier(f"tracks_v{publish_id}_publish"),
                )
            )
        conn.execute("update serving.publishes set is_current = true where publish_id = 2")
        conn.execute("""
            create view serving.user_recommendations as
            select r.user_id, r.rank, r.track_key, t.track_name, t.artist_name, t.genre,
                   r.score, r.reason, r.model_version, r.generated_at
            from serving.recommendations r left join serving.tracks t
                on r.track_key = t.track_key;
            create view serving.client_view as select user_id, count(*) as n
            from serving.user_recommendations group by user_id;
            grant usage on schema serving to recs_reader;
            grant select on all tables in schema serving to recs_reader;
            alter default privileges in schema serving grant select on tables to recs_reader
        """)
    yield url
    _drop_database(admin, url)


PARTITION_FILES = """
select c.relname, pg_relation_filenode(c.oid) from pg_class c
where c.relnamespace = 'serving'::regnamespace
  and c.relname ~ '^recommendations_v[0-9]+(_pkey|_publish_id_user_id_track_key_key)?$'
order by 1
"""


def _as_of_is_generated_at(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "select min(model_version), count(*), "
        "count(*) filter (where as_of = generated_at), min(as_of) "
        "from serving.recommendations"
    ).fetchone()


def test_bootstrap_adds_as_of_to_a_warehouse_with_publishes(warehouse_before_as_of) -> None:
    url = warehouse_before_as_of
    with psycopg.connect(url) as conn:
        before = conn.execute(
            "select * from serving.user_recommendations order by user_id, rank"
        ).fetchall()
        files = conn.execute(PARTITION_FILES).fetchall()
        assert len(files) == 6
        conn.commit()
        started = time.monotonic()
        bootstrap(conn)
        print(f"as_of upgrade: {time.monotonic() - started:.3f} s")

        # Not a row rewritten, not an index rebuilt: the kept publishes' files are the same.
        assert conn.execute(PARTITION_FILES).fetchall() == files
        # The contract's columns, NOT NULL on the parent and on every partition.
        assert conn.execute(
            "select count(*), bool_and(attnotnull) from pg_attribute "
            "where attname = 'as_of' and attrelid in ('serving.recommendation_sets'::regclass,"
            " 'serving.recommendations_v1'::regclass, 'serving.recommendations_v2'::regclass)"
        ).fetchone() == (3, True)
        assert conn.execute(
            "select array_agg(inhrelid::regclass::text order by 1) "
            "from pg_inherits where inhparent = "
            "'serving.recommendation_sets'::regclass"
        ).fetchone() == (["serving.recommendations_v1", "serving.recommendations_v2"],)
        # Old publishes stay readable: their rows' clock is their generated_at, and the
        # views built over the old layout (dbt's, a client's) read exactly what they read.
        assert _as_of_is_generated_at(conn) == ("m-old2", 100, 100, OLD_PUBLISHES[2][1])
        assert (
            conn.execute(
                "select * from serving.user_recommendations order by user_id, rank"
            ).fetchall()
            == before
        )
        assert conn.execute("select count(*) from serving.client_view").fetchone() == (5,)
        assert conn.execute(
            "select coverage from serving.publishes order by publish_id"
        ).fetchall() == [(None,), (None,)]
        # dbt's next build of the view (the model file as it is now) reads as_of too.
        create_dbt_view(conn)
        assert conn.execute(
            "select count(*) filter (where as_of = generated_at), "
            "count(track_name) from serving.user_recommendations"
        ).fetchone() == (100, 100)

        # Rollback to the older kept publish, and its clock with it.
        back = rollback(conn)
        assert (back.publish_id, back.model_version, back.coverage) == (1, "m-old1", None)
        assert _as_of_is_generated_at(conn) == ("m-old1", 100, 100, OLD_PUBLISHES[1][1])
        conn.commit()

        # A new publish on the upgraded warehouse: each listener's clock, its coverage.
        seed_serving_world(conn, versions=("m1",))
        assert publish(conn, model_version="m1", top_n=5, keep=3) == USERS * 5
        assert conn.execute(
            "select count(*), count(*) filter (where r.as_of = c.as_of) "
            "from serving.user_recommendations r join (" + CLOCKS + ") c using (user_id)"
        ).fetchone() == (USERS * 5, USERS * 5)
        assert coverage(conn)["listeners_published"] == USERS
        assert rollback(conn, to=2).publish_id == 2
        assert _as_of_is_generated_at(conn) == ("m-old2", 100, 100, OLD_PUBLISHES[2][1])
        conn.commit()

        # Bootstrap again: nothing to do, and no lock a reader would wait behind (a reader
        # holds the sets open; any ACCESS EXCLUSIVE would hit the lock timeout).
        with psycopg.connect(url) as reader:
            reader.execute("select count(*) from serving.recommendations").fetchone()
            conn.execute("set lock_timeout = '2s'")
            bootstrap(conn)
            conn.execute("reset lock_timeout")
            conn.commit()
        assert conn.execute(PARTITION_FILES).fetchall()[:6] == files
    with psycopg.connect(reader_url(url), autocommit=True) as reader:
        assert reader.execute(
            "select count(*), count(as_of) from serving.user_recommendations"
        ).fetchone() == (100, 100)


def test_publish_upgrades_a_warehouse_not_bootstrapped_since(warehouse_before_as_of) -> None:
    with psycopg.connect(warehouse_before_as_of, autocommit=True) as conn:
        seed_serving_world(conn, versions=("m1",))
        assert publish(conn, model_version="m1", top_n=5, keep=3) == USERS * 5
        assert conn.execute(
            "select count(*), count(*) filter (where r.as_of = c.as_of) "
            "from serving.recommendations r join (" + CLOCKS + ") c using (user_id)"
        ).fetchone() == (USERS * 5, USERS * 5)
        assert coverage(conn)["listeners_with_candidates"] == USERS
        assert rollback(conn, to=1).model_version == "m-old1"
        assert _as_of_is_generated_at(conn) == ("m-old1", 100, 100, OLD_PUBLISHES[1][1])
