"""What the Spotify extract still has to fetch, read from the warehouse (incremental).

- Searches: (artist, title) pairs played without a Spotify id: Last.fm scrobbles, and
  Spotify plays whose track_id is NULL, that no earlier batch searched for.
- Tracks: ids in raw.spotify_plays (any source: exports and recently-played) and in earlier
  search matches, not yet in raw.spotify_tracks and not quarantined as unknown before.
- Artists: ids named by raw.spotify_tracks, not yet in raw.spotify_artists nor quarantined.

"Before" means in any batch except the one being replaced, (source 'spotify', this logical
date): a rerun of a date plans exactly what its first run planned, so it fetches the same
things and its batch comes out the same. Candidates come most-played first, so a `limit`
(kept modest: Spotify rate-limits by rolling window) spends the calls where they matter and
the rest waits for the next run.

Table names come from `warehouse.raw_tables`, values are query parameters; optional input
tables (another source's) are read only if they exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl
import psycopg
from psycopg import sql

from warehouse import seam
from warehouse.raw_tables import (
    LASTFM_SCROBBLES,
    RAW_SCHEMA,
    SPOTIFY_ARTISTS,
    SPOTIFY_PLAYS,
    SPOTIFY_TRACK_MATCHES,
    SPOTIFY_TRACKS,
    RawTable,
)

SOURCE = "spotify"


def _raw(table: RawTable) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(RAW_SCHEMA), sql.Identifier(table.name))


# Rows of every batch but the one being (re)built.
_OTHER_BATCHES = sql.SQL("not ({alias}._source = %(source)s and {alias}._logical_date = %(day)s)")


def _other_batches(alias: str) -> sql.Composed:
    return _OTHER_BATCHES.format(alias=sql.Identifier(alias))


def existing_tables(conn: psycopg.Connection, tables: Iterable[RawTable]) -> set[str]:
    seam.require_postgres(conn, "Spotify's search and lookup backlog")
    names = [table.name for table in tables]
    rows = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = any(%s)",
        [RAW_SCHEMA, names],
    ).fetchall()
    return {name for (name,) in rows}


def _not_known(alias: str, column: str, table: RawTable) -> sql.Composed:
    """Anti-joins: the value is in no other batch of `table`, and was not quarantined."""
    return sql.SQL(
        "not exists (select 1 from {table} k where k.{column} = {alias}.{column} and {other})"
        " and not exists (select 1 from raw_rejected.rows r where r.table_name = {name}"
        " and r._source = %(source)s and r._logical_date <> %(day)s"
        " and r.record ->> 'requested' = {alias}.{column})"
    ).format(
        table=_raw(table),
        column=sql.Identifier(column),
        alias=sql.Identifier(alias),
        other=_other_batches("k"),
        name=sql.Literal(table.name),
    )


def _read(conn: psycopg.Connection, query: sql.Composed, params: dict) -> list[tuple]:
    # Every read is a short transaction of its own: none stays open while the extract waits
    # on the API, and the loader's transactions then really commit.
    with conn.transaction():
        return conn.execute(query, params).fetchall()


def pending_searches(
    conn: psycopg.Connection, logical_date: dt.date, limit: int
) -> list[tuple[str, str]]:
    """(artist, title) pairs played without a Spotify id and never searched for."""
    with conn.transaction():
        present = existing_tables(conn, (LASTFM_SCROBBLES, SPOTIFY_PLAYS))
    parts: list[sql.Composable] = []
    if LASTFM_SCROBBLES.name in present:
        parts.append(
            sql.SQL("select artist_name as artist, track_name as title from {}").format(
                _raw(LASTFM_SCROBBLES)
            )
        )
    if SPOTIFY_PLAYS.name in present:
        parts.append(
            sql.SQL(
                "select artist_name as artist, track_name as title from {} p "
                "where p.track_id is null and {}"
            ).format(_raw(SPOTIFY_PLAYS), _other_batches("p"))
        )
    if not parts or limit <= 0:
        return []
    query = sql.SQL(
        "with asked as ({parts}) "
        "select artist, title from asked a "
        "where btrim(coalesce(artist, '')) <> '' and btrim(coalesce(title, '')) <> '' "
        "and not exists (select 1 from {matches} m where m.query_artist = a.artist "
        "and m.query_title = a.title and {other}) "
        "group by artist, title order by count(*) desc, artist, title limit %(limit)s"
    ).format(
        parts=sql.SQL(" union all ").join(parts),
        matches=_raw(SPOTIFY_TRACK_MATCHES),
        other=_other_batches("m"),
    )
    rows = _read(conn, query, {"source": SOURCE, "day": logical_date, "limit": limit})
    return [(artist, title) for artist, title in rows]


def pending_track_ids(
    conn: psycopg.Connection, logical_date: dt.date, limit: int, extra_ids: Iterable[str] = ()
) -> list[str]:
    """Track ids played (or matched) but never fetched, most played first.

    `extra_ids` are ids found during this run (search matches, recently-played). Ids are
    returned as stored, minus a `spotify:track:` prefix; the caller checks their form.
    """
    if limit <= 0:
        return []
    query = sql.SQL(
        "with seen as ("
        " select regexp_replace(p.track_id, '^spotify:track:', '') as track_id from {plays} p"
        " where p.track_id is not null and {other_p}"
        " union all select m.track_id from {matches} m"
        " where m.track_id is not null and {other_m}"
        " union all select unnest(%(extra)s::text[])"
        ") "
        "select s.track_id from seen s where s.track_id <> '' and {not_known} "
        "group by s.track_id order by count(*) desc, s.track_id limit %(limit)s"
    ).format(
        plays=_raw(SPOTIFY_PLAYS),
        other_p=_other_batches("p"),
        matches=_raw(SPOTIFY_TRACK_MATCHES),
        other_m=_other_batches("m"),
        not_known=_not_known("s", "track_id", SPOTIFY_TRACKS),
    )
    rows = _read(
        conn,
        query,
        {"source": SOURCE, "day": logical_date, "limit": limit, "extra": sorted(set(extra_ids))},
    )
    return [track_id for (track_id,) in rows]


def pending_artist_ids(
    conn: psycopg.Connection, logical_date: dt.date, limit: int, extra_ids: Iterable[str] = ()
) -> list[str]:
    """Artist ids of fetched tracks (earlier batches, plus `extra_ids` from this run) whose
    artist was never fetched, most credited first."""
    if limit <= 0:
        return []
    query = sql.SQL(
        "with seen as ("
        " select jsonb_array_elements_text(t.artist_ids) as artist_id from {tracks} t"
        " where jsonb_typeof(t.artist_ids) = 'array' and {other_t}"
        " union all select unnest(%(extra)s::text[])"
        ") "
        "select s.artist_id from seen s where s.artist_id is not null and {not_known} "
        "group by s.artist_id order by count(*) desc, s.artist_id limit %(limit)s"
    ).format(
        tracks=_raw(SPOTIFY_TRACKS),
        other_t=_other_batches("t"),
        not_known=_not_known("s", "artist_id", SPOTIFY_ARTISTS),
    )
    rows = _read(
        conn,
        query,
        {"source": SOURCE, "day": logical_date, "limit": limit, "extra": sorted(set(extra_ids))},
    )
    return [artist_id for (artist_id,) in rows]


@dataclass(frozen=True)
class PollState:
    """What earlier polls of recently-played left in raw.spotify_plays for one listener."""

    watermark: dt.datetime | None  # newest play loaded under an earlier logical date
    batch_rows: pl.DataFrame  # the rows this logical date's batch already holds
    later_plays: frozenset[dt.datetime]  # the listener's plays loaded under later dates


def poll_state(conn: psycopg.Connection, user_name: str, logical_date: dt.date) -> PollState:
    seam.require_postgres(conn, "Spotify's recently-played watermark")
    params = {"source": SOURCE, "day": logical_date, "user": user_name}
    plays = _raw(SPOTIFY_PLAYS)
    columns = sql.SQL(", ").join(map(sql.Identifier, SPOTIFY_PLAYS.column_names))
    with conn.transaction():
        row = conn.execute(
            sql.SQL(
                "select max(ended_at) from {} where _source = %(source)s "
                "and user_name = %(user)s and _logical_date < %(day)s"
            ).format(plays),
            params,
        ).fetchone()
        assert row is not None  # an aggregate without group by returns one row
        (watermark,) = row
        batch = conn.execute(
            sql.SQL(
                "select {} from {} where _source = %(source)s and _logical_date = %(day)s "
                "order by ended_at"
            ).format(columns, plays),
            params,
        ).fetchall()
        later = conn.execute(
            sql.SQL(
                "select ended_at from {} where _source = %(source)s and user_name = %(user)s"
                " and _logical_date > %(day)s"
            ).format(plays),
            params,
        ).fetchall()
    return PollState(
        watermark=watermark,
        batch_rows=pl.DataFrame(batch, schema=SPOTIFY_PLAYS.polars_schema, orient="row"),
        later_plays=frozenset(ended_at for (ended_at,) in later),
    )
