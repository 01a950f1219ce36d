"""The serving layer on Snowflake: versioned publishes made current atomically, the last few
kept for rollback, and the client role's grants.

The layout is PostgreSQL's (warehouse/serving.py): every publish's rows sit in
SERVING.RECOMMENDATION_SETS / TRACK_SETS under their `publish_id`, SERVING.PUBLISHES says
which publish is current, and the client-facing views SERVING.RECOMMENDATIONS / TRACKS
select it. A publish inserts its rows and flips `is_current` in one transaction, so a
reader sees the old set or the new one, whole, both views together. Snowflake commits any
open transaction before a DDL statement, so re-pointing two views (or `ALTER TABLE ... SWAP
WITH` twice) could show a new recommendations view beside the old tracks; a row flip cannot.
Rows are inserted in (user_id, rank) order under one publish_id, so a reader's filter on the
current publish prunes to that publish's micro-partitions.

Publishes are serialised by the caller (the DAG runs one publish at a time): Snowflake has
no advisory locks, and the next `publish_id` is taken inside the publish's transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

SERVING_DDL: dict[str, str] = {
    "PUBLISHES": (
        "publish_id integer not null, model_version varchar not null, "
        "generated_at timestamp_tz not null, top_n integer not null, rows integer, "
        "users integer, tracks integer, is_current boolean not null, "
        "published_at timestamp_tz, coverage variant"
    ),
    "RECOMMENDATION_SETS": (
        "publish_id integer not null, user_id varchar not null, track_key varchar not null, "
        "rank integer not null, score double not null, reason varchar not null, "
        "model_version varchar not null, generated_at timestamp_tz not null, "
        "as_of timestamp_tz not null"
    ),
    "TRACK_SETS": (
        "publish_id integer not null, track_key varchar not null, track_name varchar, "
        "artist_name varchar, genre varchar, model_version varchar not null, "
        "generated_at timestamp_tz not null"
    ),
}

_VIEWS: dict[str, tuple[str, str]] = {  # view -> (sets table, columns clients read)
    "RECOMMENDATIONS": (
        "RECOMMENDATION_SETS",
        "user_id, track_key, rank, score, reason, model_version, generated_at, as_of",
    ),
    "TRACKS": (
        "TRACK_SETS",
        "track_key, track_name, artist_name, genre, model_version, generated_at",
    ),
}


def serving_statements(database: str) -> list[str]:
    """The SERVING schema's tables and client views (idempotent)."""
    statements = [
        f"create table if not exists {database}.SERVING.{name} ({columns})"
        for name, columns in SERVING_DDL.items()
    ]
    for view, (sets, columns) in _VIEWS.items():
        statements.append(
            f"create or replace view {database}.SERVING.{view} as "  # noqa: S608
            f"select {columns} from {database}.SERVING.{sets} "
            f"where publish_id = (select publish_id from {database}.SERVING.PUBLISHES "
            "where is_current)"
        )
    return statements


def reader_grants(database: str, role: str) -> list[str]:
    """What a Snowflake admin runs once so `role` reads SERVING and nothing else (USAGE on
    the database and the schema, SELECT on its views and tables, present and future); the
    role gets no grant on RAW, ML or the marts."""
    schema = f"{database}.SERVING"
    return [
        f"create role if not exists {role}",
        f"grant usage on database {database} to role {role}",
        f"grant usage on schema {schema} to role {role}",
        f"grant select on all views in schema {schema} to role {role}",
        f"grant select on future views in schema {schema} to role {role}",
        f"grant select on all tables in schema {schema} to role {role}",
        f"grant select on future tables in schema {schema} to role {role}",
    ]


@dataclass(frozen=True)
class Published:
    publish_id: int
    rows: int
    users: int
    tracks: int
    generated_at: dt.datetime


def publish(
    cursor: Any,
    database: str,
    *,
    model_version: str,
    top_n: int,
    recommendations: str,
    tracks: str,
    params: dict[str, Any],
    keep: int,
) -> Published:
    """Insert a new publish and make it current, in one transaction; then drop publishes
    beyond the newest `keep` (never the current one).

    `recommendations` is a SELECT of (user_id, track_key, rank, score, reason,
    model_version, as_of) and `tracks` one of (track_key, track_name, artist_name, genre);
    both may use `params` (pyformat) and `%(publish_id)s`, and `tracks` may read the new
    rows in SERVING.RECOMMENDATION_SETS under that id. An empty result raises LookupError
    and changes nothing."""
    serving = f"{database}.SERVING"
    generated_at = dt.datetime.now(dt.UTC)
    cursor.execute("begin")
    try:
        cursor.execute(f"select coalesce(max(publish_id), 0) + 1 from {serving}.PUBLISHES")  # noqa: S608
        (publish_id,) = cursor.fetchone()
        values = {**params, "publish_id": publish_id, "generated_at": generated_at}
        cursor.execute(
            f"insert into {serving}.RECOMMENDATION_SETS (publish_id, user_id, track_key, rank, "  # noqa: S608
            "score, reason, model_version, generated_at, as_of) "
            "select %(publish_id)s, r.user_id, r.track_key, r.rank, r.score, r.reason, "
            f"r.model_version, %(generated_at)s, r.as_of from ({recommendations}) as r "
            "order by r.user_id, r.rank",
            values,
        )
        cursor.execute(
            f"insert into {serving}.TRACK_SETS (publish_id, track_key, track_name, "  # noqa: S608
            "artist_name, genre, model_version, generated_at) "
            "select %(publish_id)s, t.track_key, t.track_name, t.artist_name, t.genre, "
            f"%(model_version)s, %(generated_at)s from ({tracks}) as t order by t.track_key",
            {**values, "model_version": model_version},
        )
        cursor.execute(
            f"select (select count(*) from {serving}.RECOMMENDATION_SETS "  # noqa: S608
            "where publish_id = %(id)s), "
            f"(select count(distinct user_id) from {serving}.RECOMMENDATION_SETS "
            "where publish_id = %(id)s), "
            f"(select count(*) from {serving}.TRACK_SETS where publish_id = %(id)s)",
            {"id": publish_id},
        )
        rows, users, n_tracks = cursor.fetchone()
        if not rows:
            raise LookupError(f"nothing to publish for model {model_version}")
        cursor.execute(
            f"insert into {serving}.PUBLISHES (publish_id, model_version, generated_at, "  # noqa: S608
            "top_n, rows, users, tracks, is_current) values (%s, %s, %s, %s, %s, %s, %s, false)",
            (publish_id, model_version, generated_at, top_n, rows, users, n_tracks),
        )
        _flip(cursor, serving, publish_id)
        cursor.execute("commit")
    except BaseException:
        cursor.execute("rollback")
        raise
    prune(cursor, database, keep=keep)
    return Published(publish_id, rows, users, n_tracks, generated_at)


def make_current(cursor: Any, database: str, publish_id: int) -> None:
    """Make a kept publish current again (a rollback): the registry flip alone."""
    serving = f"{database}.SERVING"
    cursor.execute("begin")
    try:
        cursor.execute(
            f"select count(*) from {serving}.PUBLISHES where publish_id = %s",  # noqa: S608
            (publish_id,),
        )
        if not cursor.fetchone()[0]:
            raise LookupError(f"publish {publish_id} is not kept")
        _flip(cursor, serving, publish_id)
        cursor.execute("commit")
    except BaseException:
        cursor.execute("rollback")
        raise


def _flip(cursor: Any, serving: str, publish_id: int) -> None:
    cursor.execute(
        f"update {serving}.PUBLISHES set is_current = (publish_id = %(id)s), "  # noqa: S608
        "published_at = case when publish_id = %(id)s then current_timestamp() "
        "else published_at end",
        {"id": publish_id},
    )


def prune(cursor: Any, database: str, *, keep: int) -> list[int]:
    """Drop the publishes beyond the newest `keep`, never the current one; their ids."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    serving = f"{database}.SERVING"
    cursor.execute(
        f"select publish_id from {serving}.PUBLISHES "  # noqa: S608
        "where not is_current order by publish_id desc"
    )
    older = [row[0] for row in cursor.fetchall()][keep - 1 :]
    if older:
        cursor.execute("begin")
        try:
            for table in ("RECOMMENDATION_SETS", "TRACK_SETS", "PUBLISHES"):
                cursor.execute(
                    f"delete from {serving}.{table} where publish_id in "  # noqa: S608
                    f"({', '.join(['%s'] * len(older))})",
                    older,
                )
            cursor.execute("commit")
        except BaseException:
            cursor.execute("rollback")
            raise
    return older


def publishes(cursor: Any, database: str) -> list[tuple[int, str, bool]]:
    """(publish_id, model_version, is_current) of every kept publish, oldest first."""
    cursor.execute(
        f"select publish_id, model_version, is_current from {database}.SERVING.PUBLISHES "  # noqa: S608
        "order by publish_id"
    )
    return [(int(a), str(b), bool(c)) for a, b, c in cursor.fetchall()]


def publish_row(cursor: Any, database: str, publish_id: int) -> tuple[Any, ...]:
    """(publish_id, model_version, generated_at, rows, users, is_current) of a kept
    publish: the fields of ml.publish.Publish."""
    cursor.execute(
        "select publish_id, model_version, generated_at, rows, users, is_current "  # noqa: S608
        f"from {database}.SERVING.PUBLISHES where publish_id = %s",
        (publish_id,),
    )
    row = cursor.fetchone()
    if row is None:
        raise LookupError(f"publish {publish_id} is not kept")
    return tuple(row)


def record_coverage(cursor: Any, database: str, publish_id: int, coverage: dict) -> None:
    """Store a publish's coverage (ml.publish_sets.coverage) in SERVING.PUBLISHES."""
    cursor.execute(
        f"update {database}.SERVING.PUBLISHES set coverage = parse_json(%s) "  # noqa: S608
        "where publish_id = %s",
        (json.dumps(coverage), publish_id),
    )
