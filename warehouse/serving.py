"""The `serving` schema, its one owner: the partitioned publish tables, the client views
over the current publish, the read-only role `recs_reader` and the upgrades of older
layouts. `warehouse.bootstrap` creates it; `ml/publish.py` writes partitions into it (under
PUBLISH_LOCK); dbt reads it through a source (`models/serving/`). Contract: DESIGN.md,
"Serving contract"; docs/serving.md.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

READER_ROLE = "recs_reader"

# Every publish is a partition of its own (serving.recommendations_v<publish_id>, and
# serving.tracks_v<publish_id> for the track names), written by ml/publish.py, loaded in
# (user_id, rank) order, indexed and analyzed before it is attached. serving.publishes says
# which publish is current; the client-facing views pick it. Switching publishes (publish,
# rollback) is a row update in serving.publishes, so readers never wait for a lock: a
# statement sees one publish, whole, from its snapshot. See docs/serving.md.

# Role defaults for recs_reader (a client may still SET them in its session).
READER_SETTINGS = {
    "default_transaction_read_only": "on",
    "statement_timeout": "30s",
    "idle_in_transaction_session_timeout": "60s",
}

_SERVING_DDL = """
create table if not exists serving.publishes (
    publish_id bigint generated always as identity primary key,
    model_version text not null,
    generated_at timestamptz not null,
    top_n integer not null,
    rows bigint not null default 0,
    users bigint not null default 0,
    tracks bigint not null default 0,
    is_current boolean not null default false,
    published_at timestamptz,
    dropped_at timestamptz,
    coverage jsonb
);
create unique index if not exists publishes_one_current
    on serving.publishes ((true)) where is_current;

create table if not exists serving.recommendation_sets (
    publish_id bigint not null,
    user_id text not null,
    track_key text not null,
    rank integer not null check (rank >= 1),
    score double precision not null check (score between 0 and 1),
    reason text not null,
    model_version text not null,
    generated_at timestamptz not null,
    as_of timestamptz not null,
    primary key (publish_id, user_id, rank),
    unique (publish_id, user_id, track_key)
) partition by list (publish_id);

create table if not exists serving.track_sets (
    publish_id bigint not null,
    track_key text not null,
    track_name text,
    artist_name text,
    genre text,
    model_version text not null,
    generated_at timestamptz not null,
    primary key (publish_id, track_key)
) partition by list (publish_id);
"""

# The client-facing names. Created once (CREATE OR REPLACE would take an ACCESS EXCLUSIVE
# lock on every bootstrap); the current publish is looked up per statement.
_SERVING_VIEWS = {
    "recommendations": """
create view serving.recommendations as
select r.user_id, r.track_key, r.rank, r.score, r.reason, r.model_version, r.generated_at,
       r.as_of
from serving.recommendation_sets as r
where r.publish_id = (select p.publish_id from serving.publishes as p where p.is_current)
""",
    "tracks": """
create view serving.tracks as
select t.track_key, t.track_name, t.artist_name, t.genre, t.model_version, t.generated_at
from serving.track_sets as t
where t.publish_id = (select p.publish_id from serving.publishes as p where p.is_current)
""",
}

# Views that read the pre-partition tables (dbt's serving.user_recommendations, a client's
# own): their definitions, taken before the tables are renamed away, so they can be
# re-created over the new views of the same names (CREATE OR REPLACE keeps their grants).
_DEPENDENT_VIEWS = """
select distinct v.oid::regclass::text, pg_get_viewdef(v.oid)
from pg_depend as d
join pg_rewrite as w on w.oid = d.objid
join pg_class as v on v.oid = w.ev_class
where d.classid = 'pg_rewrite'::regclass
  and d.refclassid = 'pg_class'::regclass
  and d.refobjid = any(%s::regclass[])
  and v.relkind = 'v'
  and v.oid <> all(%s::regclass[])
"""


def _relkind(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute(
        "select c.relkind from pg_class c where c.oid = to_regclass(%s)", [name]
    ).fetchone()
    return row[0] if row else None


def ensure_serving(conn: psycopg.Connection) -> None:
    """The publish registry, the partitioned sets and the client views; upgrades a warehouse
    whose serving.recommendations / serving.tracks are still plain tables (the first
    layout): their rows become publish 1 and the views that read them are re-pointed."""
    legacy = [
        name for name in ("recommendations", "tracks") if _relkind(conn, f"serving.{name}") == "r"
    ]
    dependants: list[tuple[str, str]] = []
    if legacy:
        tables = [f"serving.{name}" for name in legacy]
        dependants = conn.execute(_DEPENDENT_VIEWS, [tables, tables]).fetchall()
        for name in legacy:
            conn.execute(
                sql.SQL("alter table serving.{} rename to {}").format(
                    sql.Identifier(name), sql.Identifier(f"{name}_legacy")
                )
            )
    conn.execute(_SERVING_DDL)
    upgrade_serving_columns(conn)
    for name, ddl in _SERVING_VIEWS.items():
        if _relkind(conn, f"serving.{name}") is None:
            conn.execute(ddl)
    if not legacy:
        return
    if "recommendations" in legacy:
        _adopt_legacy_publish(conn, has_tracks="tracks" in legacy)
    for view, definition in dependants:
        conn.execute(
            sql.SQL("create or replace view {} as {}").format(sql.SQL(view), sql.SQL(definition))
        )  # names and SQL from the catalog
    for name in legacy:
        conn.execute(sql.SQL("drop table serving.{}").format(sql.Identifier(f"{name}_legacy")))
    log.info(
        "serving upgraded to versioned publishes (re-pointed views: %s)",
        ", ".join(view for view, _ in dependants) or "none",
    )


def _adopt_legacy_publish(conn: psycopg.Connection, *, has_tracks: bool) -> None:
    """The rows of the old serving.recommendations table become a publish of their own."""
    row = conn.execute(
        "select max(model_version), max(generated_at), count(*), "
        "count(distinct user_id), max(rank) "
        "from serving.recommendations_legacy"
    ).fetchone()
    if not row or not row[2]:
        return
    version, generated_at, rows, users, top_n = row
    inserted = conn.execute(
        "insert into serving.publishes (model_version, generated_at, top_n, rows, users) "
        "values (%s, %s, %s, %s, %s) returning publish_id",
        [version, generated_at, top_n, rows, users],
    ).fetchone()
    assert inserted is not None  # insert ... returning one row
    (publish_id,) = inserted
    recs = sql.Identifier(f"recommendations_v{publish_id}")
    tracks = sql.Identifier(f"tracks_v{publish_id}")
    conn.execute(
        sql.SQL(
            "create table serving.{} (like serving.recommendation_sets including defaults "
            "including constraints)"
        ).format(recs)
    )
    conn.execute(
        sql.SQL(
            "insert into serving.{} (publish_id, user_id, track_key, rank, score, reason, "
            "model_version, generated_at, as_of) select {}, user_id, track_key, rank, score, "
            "reason, model_version, generated_at, generated_at from serving.recommendations_legacy "
            "order by user_id, rank"
        ).format(recs, sql.Literal(publish_id))
    )  # as_of: see below
    conn.execute(
        sql.SQL(
            "create table serving.{} (like serving.track_sets including defaults "
            "including constraints)"
        ).format(tracks)
    )
    if has_tracks:
        conn.execute(
            sql.SQL(
                "insert into serving.{} (publish_id, track_key, track_name, artist_name, genre, "
                "model_version, generated_at) select {}, track_key, track_name, artist_name, "
                "genre, model_version, generated_at from serving.tracks_legacy "
                "order by track_key"
            ).format(tracks, sql.Literal(publish_id))
        )
    for parent, table in (("recommendation_sets", recs), ("track_sets", tracks)):
        # ATTACH validates the rows and builds the partition's indexes from the parent's.
        conn.execute(
            sql.SQL("alter table serving.{} attach partition serving.{} for values in ({})").format(
                sql.Identifier(parent), table, sql.Literal(publish_id)
            )
        )
        conn.execute(sql.SQL("analyze serving.{}").format(table))
    conn.execute(
        "update serving.publishes set is_current = true, published_at = now(), "
        "tracks = (select count(*) from serving.track_sets where publish_id = %s) "
        "where publish_id = %s",
        [publish_id, publish_id],
    )


# ------------------------------------------------------------------ columns added since
#
# `serving.recommendation_sets.as_of` (the listener's clock, DESIGN.md "Serving contract")
# and `serving.publishes.coverage` came after the versioned layout. Warehouses bootstrapped
# before them are upgraded here, once; ml/publish.py calls this too, so a publish on a
# warehouse not yet re-bootstrapped upgrades it instead of failing.
#
# The choice for the rows published before `as_of` existed: their clock was never recorded,
# so each old publish's rows get that publish's `generated_at`, an upper bound of the clock
# they were computed as of (a clock is never after the publish; for live sources it is the
# run's date, about the same). The parent keeps `as_of ... not null` exactly as in a fresh
# warehouse: old publishes stay readable through the same views, with a non-NULL `as_of`,
# and rollback to them is the same registry flip. `serving.publishes.coverage is null` marks
# such a publish (every publish since records its coverage), so a client can tell the
# approximated clock apart.
#
# How, without rewriting a row: PostgreSQL cannot add a column to one partition of a
# partitioned table, and a column added to the parent gets one default for all partitions.
# So, in the bootstrap's transaction: the old partitions are detached, the parent gains
# `as_of timestamptz not null` (no partition, no rows), each old partition gains it with
# its own `generated_at` as a constant default (PostgreSQL 11+ stores it in the catalog,
# a "fast default": no rewrite, no scan; the rows keep their clustered order) and the
# default is dropped again, then each partition is attached back with its own bound (its
# CHECK constraint spares the validation scan; its indexes are adopted, not rebuilt).
# Milliseconds for millions of rows, but every step takes ACCESS EXCLUSIVE on the sets:
# readers of serving wait for this one transaction. The checks below read the catalog
# first, so bootstraps after the upgrade take no lock at all.

_RECOMMENDATION_PARTITIONS = """
select c.relname, pg_get_expr(c.relpartbound, c.oid)
from pg_inherits as i
join pg_class as c on c.oid = i.inhrelid
where i.inhparent = 'serving.recommendation_sets'::regclass
order by c.relname
"""

PUBLISH_LOCK = "select pg_advisory_xact_lock(hashtext('encore.publish'))"
"""Held by every publish, rollback and serving upgrade: one at a time."""


def _has_column(conn: psycopg.Connection, table: str, column: str) -> bool:
    row = conn.execute(
        "select exists (select 1 from pg_attribute where attrelid = to_regclass(%s) "
        "and attname = %s and attnum > 0 and not attisdropped)",
        [table, column],
    ).fetchone()
    assert row is not None  # select exists (...) returns one row
    return row[0]


def serving_columns_missing(conn: psycopg.Connection) -> bool:
    """Whether the serving tables or the recommendations view predate a column."""
    return not (
        _has_column(conn, "serving.recommendation_sets", "as_of")
        and _has_column(conn, "serving.publishes", "coverage")
        and (
            _relkind(conn, "serving.recommendations") != "v"
            or _has_column(conn, "serving.recommendations", "as_of")
        )
    )


def upgrade_serving_columns(conn: psycopg.Connection) -> None:
    """Add `serving.publishes.coverage` and `serving.recommendation_sets.as_of` (old rows:
    their publish's `generated_at`, see above) where missing, and `as_of` to the view
    `serving.recommendations`. Idempotent; call it inside a transaction. Reads the catalog
    first: when nothing is missing it takes no lock."""
    if not serving_columns_missing(conn):
        return
    # No publish may create a partition LIKE the old parent meanwhile (it could not attach).
    conn.execute(PUBLISH_LOCK)
    if not _has_column(conn, "serving.publishes", "coverage"):
        conn.execute("alter table serving.publishes add column if not exists coverage jsonb")
    if not _has_column(conn, "serving.recommendation_sets", "as_of"):
        _add_as_of(conn)
    if _relkind(conn, "serving.recommendations") == "v" and not _has_column(
        conn, "serving.recommendations", "as_of"
    ):
        # Appending a column is what CREATE OR REPLACE VIEW allows; views over this one
        # (dbt's serving.user_recommendations, a client's) and their grants are untouched.
        conn.execute(
            _SERVING_VIEWS["recommendations"].replace("create view", "create or replace view", 1)
        )
        log.info("serving.recommendations now shows as_of")


def _add_as_of(conn: psycopg.Connection) -> None:
    parent = sql.Identifier("recommendation_sets")
    partitions = conn.execute(_RECOMMENDATION_PARTITIONS).fetchall()
    for name, _ in partitions:
        conn.execute(
            sql.SQL("alter table serving.{} detach partition serving.{}").format(
                parent, sql.Identifier(name)
            )
        )
    conn.execute(
        sql.SQL("alter table serving.{} add column as_of timestamptz not null").format(parent)
    )
    for name, bound in partitions:
        table = sql.Identifier(name)
        row = conn.execute(
            sql.SQL("select generated_at from serving.{} limit 1").format(table)
        ).fetchone()
        clock = row[0] if row else None  # an empty partition: no row will ever read it
        conn.execute(
            sql.SQL(
                "alter table serving.{} add column as_of timestamptz not null default {}"
            ).format(table, sql.Literal(clock) if clock else sql.SQL("'-infinity'"))
        )
        conn.execute(
            sql.SQL("alter table serving.{} alter column as_of drop default").format(table)
        )
        conn.execute(
            sql.SQL("alter table serving.{} attach partition serving.{} {}").format(
                parent, table, sql.SQL(bound)
            )
        )  # the bound as the catalog printed it
    log.info(
        "serving.recommendation_sets gained as_of; %d kept publishes take their "
        "generated_at as their clock",
        len(partitions),
    )


def ensure_reader_role(conn: psycopg.Connection) -> None:
    """`recs_reader` may read `serving` and nothing else (see DESIGN.md, serving contract).

    Besides the grants, the role's sessions start read-only and with short timeouts (role
    defaults, see READER_SETTINGS): a forgotten open transaction cannot hold locks for long.
    """
    exists = conn.execute("select 1 from pg_roles where rolname = %s", [READER_ROLE]).fetchone()
    if not exists:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(READER_ROLE)))
    role = sql.Identifier(READER_ROLE)
    conn.execute(sql.SQL("grant usage on schema serving to {}").format(role))
    conn.execute(sql.SQL("grant select on all tables in schema serving to {}").format(role))
    conn.execute(
        sql.SQL("alter default privileges in schema serving grant select on tables to {}").format(
            role
        )
    )
    row = conn.execute(
        "select rolconfig from pg_roles where rolname = %s", [READER_ROLE]
    ).fetchone()
    current = set(row[0] or []) if row else set()
    for name, value in READER_SETTINGS.items():
        if f"{name}={value}" in current:
            continue
        try:
            with conn.transaction():  # a savepoint: lacking the privilege is not fatal
                conn.execute(
                    sql.SQL("alter role {} set {} = {}").format(
                        role, sql.Identifier(name), sql.Literal(value)
                    )
                )
        except psycopg.errors.InsufficientPrivilege:
            log.warning(
                "cannot set %s for role %s (needs CREATEROLE/ADMIN on it)", name, READER_ROLE
            )
