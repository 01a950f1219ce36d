"""Publish each user's top-N scored candidates as a new, versioned serving set; roll back.

Every publish writes partitions of its own, `serving.recommendations_v<publish_id>` (and
`serving.tracks_v<publish_id>`, the names of the recommended tracks), while clients keep
reading the current one:

1. In one transaction (serialised with other publishers by an advisory lock): register the
   publish in `serving.publishes`, load its rows ordered by (user_id, rank) into a fresh table
   (so each user's rows sit together on disk), build its indexes after the load, ANALYZE it,
   and ATTACH it to `serving.recommendation_sets` (SHARE UPDATE EXCLUSIVE on the parent: no
   reader waits for it). Then flip `serving.publishes.is_current` to it and commit.
2. The client views `serving.recommendations` and `serving.tracks` select the partition whose
   `publish_id` is current. Every statement reads the registry and the rows from the same
   MVCC snapshot, so a reader sees the old set or the new one, whole: never a partial, mixed
   or empty one. Readers never take part in a DDL lock queue for it.
3. After the commit, publishes beyond the newest `keep` (and never the current one) are
   dropped, each in a short transaction with a short `lock_timeout` and retries: dropping a
   partition needs an ACCESS EXCLUSIVE lock on its parent, so a reader arriving meanwhile
   waits at most `lock_timeout`, and the drop gives up (until the next publish) rather than
   queue behind a long-running reader. Called inside a caller's transaction, publish does
   not drop anything (the lock would be held until the caller commits).

`rollback` makes an earlier kept publish current again: the same registry flip.
An empty result aborts the publish; nothing changes for clients.

Every row carries its listener's clock, `as_of` (DESIGN.md), from
marts.fct_candidate_features. Every publish records its coverage in
`serving.publishes.coverage`: the listeners with candidates (the active ones), those
published, those left out with the rule that left them out, and those whose list is shorter
than min(top_n, their candidates); anyone left out is logged as a warning.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from config import get_settings
from ml.publish_sets import (
    LIST_TRACKS,
    RANKED_LISTS,
    publish_elsewhere,
    rollback_elsewhere,
)
from ml.publish_sets import coverage as coverage_of
from ml.runs import latest_version
from ml.score import FALLBACK_REASON, ensure_score_columns
from warehouse import seam, snowflake_serving
from warehouse.serving import PUBLISH_LOCK, upgrade_serving_columns

log = logging.getLogger(__name__)

DEFAULT_TOP_N = 20
DROP_LOCK_TIMEOUT = "100ms"  # how long a reader may queue behind a retention DROP
DROP_ATTEMPTS = 20
PLANNER_WAIT_SECONDS = 30.0

# A publish's rows: ml.publish_sets.RANKED_LISTS (each active listener's top min(top_n,
# scored candidates), their clock, the scorer's reason), in (user_id, rank) order.
_PUBLISH = """
insert into serving.{table}
    (publish_id, user_id, track_key, rank, score, reason, model_version, generated_at, as_of)
select %(publish_id)s, r.user_id, r.track_key, r.rank, r.score, r.reason, r.model_version,
       %(generated_at)s, r.as_of
from ({ranked}) as r
order by r.user_id, r.rank
"""

_PUBLISH_TRACKS = """
insert into serving.{table} (publish_id, track_key, track_name, artist_name, genre,
                             model_version, generated_at)
select %(publish_id)s, t.track_key, t.track_name, t.artist_name, t.genre, %(version)s,
       %(generated_at)s
from ({tracks}) as t
order by t.track_key
"""


@dataclass(frozen=True)
class Publish:
    publish_id: int
    model_version: str
    generated_at: datetime
    rows: int
    users: int
    is_current: bool
    coverage: dict | None = None  # see coverage(); None for publishes made before it existed


def keep_default() -> int:
    return get_settings().encore_serving_keep


def publish(
    conn: psycopg.Connection,
    *,
    model_version: str | None = None,
    top_n: int = DEFAULT_TOP_N,
    keep: int | None = None,
) -> int:
    """Publish each user's top `top_n` tracks by score from `model_version` (default: the
    newest succeeded run that has scores) as the current serving set, then drop publishes
    beyond the newest `keep` (default ENCORE_SERVING_KEEP or 3). Returns rows published.

    Each row carries the listener's clock (`as_of`, from marts.fct_candidate_features). The
    publish's coverage (listeners with candidates, published, left out and why, short lists)
    is logged, with a warning when anyone is left out, and recorded in
    `serving.publishes.coverage`: read it with `publishes()` or `coverage()`.
    """
    if top_n < 1:
        raise ValueError("top_n must be at least 1")
    keep = keep_default() if keep is None else keep
    if keep < 1:
        raise ValueError("keep must be at least 1")
    started = time.monotonic()
    data = seam.data(conn)
    if isinstance(data, seam.Snowflake):  # the data lives in Snowflake: its serving layout
        publish_id, published, version, covered = publish_elsewhere(
            conn, data, model_version=model_version, top_n=top_n, keep=keep
        )
        log.info(
            "published %d recommendations from %s as Snowflake publish %d in %.1f s",
            published,
            version,
            publish_id,
            time.monotonic() - started,
        )
        _log_coverage(publish_id, covered)
        return published
    owns_transaction = conn.info.transaction_status == TransactionStatus.IDLE
    if owns_transaction:  # held across both transactions below
        conn.execute("select pg_advisory_lock(hashtext('encore.publish'))")
        conn.commit()
    try:
        # A warehouse bootstrapped before serving's newer columns is upgraded here as the
        # bootstrap would (a catalog read when there is nothing to do), in a short
        # transaction of its own, not the load's: that would hold its ACCESS EXCLUSIVE locks
        # on the sets for the whole load.
        with conn.transaction():
            upgrade_serving_columns(conn)
        publish_id, published, version, covered = _load(
            conn, model_version, top_n, flip=not owns_transaction
        )
        if owns_transaction:
            row = conn.execute("select clock_timestamp()").fetchone()
            assert row is not None
            since = row[0]
            conn.commit()
            _wait_for_earlier_planners(conn, since)
            with conn.transaction():
                _make_current(conn, publish_id)
    finally:
        if owns_transaction:
            conn.rollback()
            conn.execute("select pg_advisory_unlock(hashtext('encore.publish'))")
            conn.commit()
    log.info(
        "published %d recommendations from %s as publish %d in %.1f s",
        published,
        version,
        publish_id,
        time.monotonic() - started,
    )
    _log_coverage(publish_id, covered)
    if owns_transaction:
        prune(conn, keep=keep)
    else:
        log.info("inside a caller's transaction: old publishes are dropped by the next publish")
    return published


def _load(
    conn: psycopg.Connection, model_version: str | None, top_n: int, *, flip: bool
) -> tuple[int, int, str, dict]:
    """Phase 1: the new publish's partitions, loaded, indexed, analyzed and attached, and its
    registry row with its coverage (current already when `flip`). Returns (publish_id, rows,
    model_version, coverage)."""
    with conn.transaction():
        conn.execute(PUBLISH_LOCK)
        ensure_score_columns(conn)  # scores written before reasons existed lack the column
        version = model_version or latest_version(conn, scored=True)
        row = conn.execute("select now()").fetchone()
        assert row is not None
        generated_at = row[0]
        row = conn.execute(
            "insert into serving.publishes (model_version, generated_at, top_n) "
            "values (%s, %s, %s) returning publish_id",
            [version, generated_at, top_n],
        ).fetchone()
        assert row is not None  # insert ... returning one row
        (publish_id,) = row
        recs = f"recommendations_v{publish_id}"
        tracks = f"tracks_v{publish_id}"
        params = {
            "publish_id": publish_id,
            "version": version,
            "top_n": top_n,
            "generated_at": generated_at,
            "fallback": FALLBACK_REASON,
        }
        _create_like(conn, recs, "recommendation_sets")
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL(_PUBLISH).format(table=sql.Identifier(recs), ranked=sql.SQL(RANKED_LISTS)),
                params,
            )
            published = cur.rowcount
        if published <= 0:
            raise LookupError(
                f"no scores for model {version} of a listener in "
                "marts.fct_candidate_features; run `python -m ml score` first"
            )
        published_rows = sql.SQL("select user_id from serving.{}").format(sql.Identifier(recs))
        covered = coverage_of(seam.Postgres(conn), published_rows.as_string(conn), version, top_n)
        _create_like(conn, tracks, "track_sets")
        listed = sql.SQL("select track_key from serving.{}").format(sql.Identifier(recs))
        conn.execute(
            sql.SQL(_PUBLISH_TRACKS).format(
                table=sql.Identifier(tracks),
                tracks=sql.SQL(LIST_TRACKS).format(published=listed),
            ),
            params,
        )
        # Indexes after the load (faster, compact); the CHECK lets ATTACH skip its scan.
        for statement in (
            "alter table serving.{recs} add primary key (publish_id, user_id, rank), "
            "add unique (publish_id, user_id, track_key), "
            "add constraint {recs_check} check (publish_id = {id})",
            "alter table serving.{tracks} add primary key (publish_id, track_key), "
            "add constraint {tracks_check} check (publish_id = {id})",
            "analyze serving.{recs}, serving.{tracks}",
            "alter table serving.recommendation_sets attach partition serving.{recs} "
            "for values in ({id})",
            "alter table serving.track_sets attach partition serving.{tracks} for values in ({id})",
        ):
            conn.execute(
                sql.SQL(statement).format(
                    recs=sql.Identifier(recs),
                    tracks=sql.Identifier(tracks),
                    recs_check=sql.Identifier(f"{recs}_publish"),
                    tracks_check=sql.Identifier(f"{tracks}_publish"),
                    id=sql.Literal(publish_id),
                )
            )
        conn.execute(
            sql.SQL(
                "update serving.publishes set rows = (select count(*) from serving.{r}), "
                "users = (select count(distinct user_id) from serving.{r}), "
                "tracks = (select count(*) from serving.{t}), coverage = %s "
                "where publish_id = %s"
            ).format(r=sql.Identifier(recs), t=sql.Identifier(tracks)),
            [Jsonb(covered), publish_id],
        )
        if flip:
            _make_current(conn, publish_id)
    return publish_id, published, version, covered


def _log_coverage(publish_id: int, covered: dict) -> None:
    log.info(
        "publish %d coverage: %d of %d listeners with candidates published, %d left out, "
        "%d with a short list",
        publish_id,
        covered["listeners_published"],
        covered["listeners_with_candidates"],
        covered["listeners_left_out"],
        covered["listeners_short"],
    )
    for gap in covered["left_out"]:
        log.warning(
            "publish %d left out %d of %d listeners with candidates: %s (e.g. %s)",
            publish_id,
            gap["listeners"],
            covered["listeners_with_candidates"],
            gap["reason"],
            ", ".join(gap["sample"][:5]),
        )
    for gap in covered["short_lists"]:
        log.warning(
            "publish %d gave %d listeners fewer than min(%d, their candidates) rows: %s (e.g. %s)",
            publish_id,
            gap["listeners"],
            covered["top_n"],
            gap["reason"],
            ", ".join(gap["sample"][:5]),
        )
    if covered["scored_not_candidates"]:
        log.info(
            "publish %d skipped the scores of %d users no longer in "
            "marts.fct_candidate_features (no play in the 30 days before their clock)",
            publish_id,
            covered["scored_not_candidates"],
        )


def coverage(conn: psycopg.Connection, publish_id: int | None = None) -> dict | None:
    """The recorded coverage of a publish (default: the current one); None for a publish
    made before coverage was recorded."""
    row = conn.execute(
        "select coverage from serving.publishes where publish_id = %s"
        if publish_id
        else "select coverage from serving.publishes where is_current",
        [publish_id] if publish_id else [],
    ).fetchone()
    if row is None:
        raise LookupError(f"no publish {publish_id}" if publish_id else "nothing is published")
    return row[0]


def _wait_for_earlier_planners(
    conn: psycopg.Connection, since: datetime, timeout: float = PLANNER_WAIT_SECONDS
) -> None:
    """Wait until no statement that began before `since` (the attach's commit) still runs
    over the serving sets.

    A statement plans with the partitions attached when it started, but (in READ COMMITTED)
    reads serving.publishes with a snapshot taken just after planning. One planned before the
    attach committed and snapshotted after the flip would find the new publish current but
    not its partition: an empty answer. Waiting for those statements (typically none, or a
    few milliseconds) before the flip closes that window without blocking anybody.
    Other roles' statements are visible to a superuser or a member of pg_read_all_stats; a
    statement we cannot see is waited for until it releases its lock on the sets.
    """
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(
            "select count(distinct l.pid) from pg_locks l "
            "left join pg_stat_activity a on a.pid = l.pid "
            "where l.locktype = 'relation' and l.granted and l.pid <> pg_backend_pid() "
            "and l.relation in ('serving.recommendation_sets'::regclass, "
            "                   'serving.track_sets'::regclass) "
            "and (a.state is null or (a.state = 'active' and a.query_start < %s))",
            [since],
        ).fetchone()
        assert row is not None  # an aggregate without group by returns one row
        (waiting,) = row
        conn.commit()
        if not waiting:
            return
        if time.monotonic() > deadline:
            log.warning(
                "%d statements older than the new publish still run after %.0f s; "
                "making it current anyway",
                waiting,
                timeout,
            )
            return
        time.sleep(0.01)


def rollback(conn: psycopg.Connection, *, to: str | int | None = None) -> Publish:
    """Make an earlier kept publish current again: the one before the current publish, or
    `to` (a publish id, or a model version: its newest kept publish). Returns it."""
    data = seam.data(conn)
    if isinstance(data, seam.Snowflake):
        publish_id, version = rollback_elsewhere(data, to)
        log.info("rolled back to Snowflake publish %d (%s)", publish_id, version)
        with data.conn.cursor() as cursor:
            return Publish(*snowflake_serving.publish_row(cursor, data.database, publish_id))
    with conn.transaction():
        conn.execute(PUBLISH_LOCK)
        current = conn.execute(
            "select publish_id from serving.publishes where is_current"
        ).fetchone()
        if to is None:
            if current is None:
                raise LookupError("nothing is published: nothing to roll back")
            row = conn.execute(
                "select max(publish_id) from serving.publishes where dropped_at is null "
                "and publish_id < %s",
                [current[0]],
            ).fetchone()
            what = f"no kept publish before publish {current[0]}"
        elif isinstance(to, int) or str(to).isdigit():
            row = conn.execute(
                "select publish_id from serving.publishes where dropped_at is null "
                "and publish_id = %s",
                [int(to)],
            ).fetchone()
            what = f"publish {to} is not kept (see serving.publishes)"
        else:
            row = conn.execute(
                "select max(publish_id) from serving.publishes where dropped_at is null "
                "and model_version = %s",
                [str(to)],
            ).fetchone()
            what = f"no kept publish of model {to} (see serving.publishes)"
        if row is None or row[0] is None:
            raise LookupError(what)
        _make_current(conn, row[0])
        result = _publish_row(conn, row[0])
    log.info("rolled back to publish %d (%s)", result.publish_id, result.model_version)
    return result


def publishes(conn: psycopg.Connection) -> list[Publish]:
    """The kept publishes, newest first."""
    ids = conn.execute(
        "select publish_id from serving.publishes where dropped_at is null order by publish_id desc"
    ).fetchall()
    return [_publish_row(conn, publish_id) for (publish_id,) in ids]


def prune(conn: psycopg.Connection, *, keep: int | None = None) -> list[int]:
    """Drop publishes beyond the newest `keep` (never the current one). Returns the dropped
    ids. Each drop is its own short transaction; one that cannot get its lock within
    DROP_LOCK_TIMEOUT after DROP_ATTEMPTS tries is left for the next run."""
    keep = keep_default() if keep is None else keep
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise RuntimeError("prune() runs its own short transactions: call it outside one")
    with conn.transaction():
        stale = conn.execute(
            "select publish_id from serving.publishes where dropped_at is null "
            "and not is_current and publish_id not in (select publish_id "
            "from serving.publishes where dropped_at is null order by publish_id desc "
            "limit %s) order by publish_id",
            [keep],
        ).fetchall()
    dropped = []
    for (publish_id,) in stale:
        if _drop_publish(conn, publish_id):
            dropped.append(publish_id)
    if dropped:
        log.info("dropped publishes %s (keeping the newest %d)", dropped, keep)
    return dropped


def _drop_publish(conn: psycopg.Connection, publish_id: int) -> bool:
    for attempt in range(DROP_ATTEMPTS):
        try:
            with conn.transaction():
                conn.execute(PUBLISH_LOCK)  # never while a publish or rollback runs
                conn.execute(f"set local lock_timeout = '{DROP_LOCK_TIMEOUT}'")
                row = conn.execute(
                    "select is_current, dropped_at from serving.publishes where publish_id = %s",
                    [publish_id],
                ).fetchone()
                if row is None or row[0] or row[1] is not None:
                    return False  # made current again (rollback) or dropped meanwhile
                for name in (f"recommendations_v{publish_id}", f"tracks_v{publish_id}"):
                    conn.execute(
                        sql.SQL("drop table if exists serving.{}").format(sql.Identifier(name))
                    )
                conn.execute(
                    "update serving.publishes set dropped_at = now() where publish_id = %s",
                    [publish_id],
                )
            return True
        except psycopg.errors.LockNotAvailable:
            time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
    log.warning(
        "could not drop publish %d (readers held its table); the next publish retries", publish_id
    )
    return False


def _create_like(conn: psycopg.Connection, table: str, parent: str) -> None:
    conn.execute(
        sql.SQL(
            "create table serving.{} (like serving.{} including defaults including constraints)"
        ).format(sql.Identifier(table), sql.Identifier(parent))
    )


def _make_current(conn: psycopg.Connection, publish_id: int) -> None:
    conn.execute(
        "update serving.publishes set is_current = false where is_current and publish_id <> %s",
        [publish_id],
    )
    conn.execute(
        "update serving.publishes set is_current = true, "
        "published_at = coalesce(published_at, now()) where publish_id = %s",
        [publish_id],
    )


def _publish_row(conn: psycopg.Connection, publish_id: int) -> Publish:
    row = conn.execute(
        "select publish_id, model_version, generated_at, rows, users, is_current, "
        "coverage from serving.publishes where publish_id = %s",
        [publish_id],
    ).fetchone()
    assert row is not None  # callers pass the id of a publish that exists
    return Publish(*row)
