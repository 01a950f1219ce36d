"""Which scrobbles a run for a logical date fetches: from a lookback before the user's
watermark to the date.

The watermark is not stored anywhere: it is the newest `played_at` of the user's earlier
batches in raw.lastfm_scrobbles (`_source = 'lastfm'`, `_logical_date` before the run's).
Batches of the run's own date and later ones are ignored, so rerunning a date asks for
exactly the same window again and its batch is replaced by the same rows. The window ends
at 00:00 UTC of the logical date (exclusive), the synthetic source's convention: the batch
for D holds what was played before D, so a daily run at D 00:00 collects the whole of D-1.

Last.fm accepts scrobbles up to 14 days after they were played (offline devices), so a
window starting at the watermark would never see one that arrives late. The window
therefore starts `lookback_days` (LASTFM_LOOKBACK_DAYS, 14) before the watermark, and the
scrobbles the earlier batches already hold in that stretch (`loaded_scrobbles`) are left
out of the run's batch: a late scrobble is loaded once, by the first run that sees it, and
nothing is loaded twice. Both inputs come from batches before the run's date, so a rerun
still lands the same rows.

Last.fm documents `from`/`to` loosely, so the window is enforced on our side too: `from`
is sent as the window's start and rows at or before it are dropped (whether the API
treats `from` as inclusive or not), and `to` as the end, with rows at or after it left for
the next batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import psycopg

from extract.lastfm.config import SOURCE
from warehouse import seam

# What identifies a scrobble across fetches: (played_at, artist, title, album), as scrobbled.
ScrobbleKey = tuple[dt.datetime, str, str, str | None]


@dataclass(frozen=True)
class Window:
    """[since, until) with `since` exclusive when it derives from a watermark (the watermark,
    or the lookback before it), None = no lower bound."""

    until: dt.datetime
    since: dt.datetime | None = None
    since_is_watermark: bool = False

    @property
    def params(self) -> dict[str, int]:
        """user.getRecentTracks' `from`/`to` (Unix seconds)."""
        params = {"to": int(self.until.timestamp())}
        if self.since is not None:
            params["from"] = int(self.since.timestamp())
        return params

    def contains(self, played_at: dt.datetime) -> bool:
        if played_at >= self.until:
            return False
        if self.since is None:
            return True
        return played_at > self.since if self.since_is_watermark else played_at >= self.since


def window_end(logical_date: dt.date) -> dt.datetime:
    return dt.datetime.combine(logical_date, dt.time(0), dt.UTC)


def lookback_start(watermark: dt.datetime, lookback_days: int) -> dt.datetime:
    """Where an incremental run starts reading (exclusive): `lookback_days` before the
    watermark."""
    return watermark - dt.timedelta(days=lookback_days)


def plan_window(
    logical_date: dt.date,
    watermark: dt.datetime | None,
    initial_days: int | None,
    lookback_days: int = 0,
) -> Window:
    """The window after `lookback_days` before `watermark`, or the first run's
    `initial_days` (None: everything)."""
    until = window_end(logical_date)
    if watermark is not None:
        return Window(
            until=until, since=lookback_start(watermark, lookback_days), since_is_watermark=True
        )
    if initial_days is None:
        return Window(until=until)
    return Window(until=until, since=until - dt.timedelta(days=initial_days))


def watermarks(
    conn: psycopg.Connection, users: Sequence[str], logical_date: dt.date
) -> dict[str, dt.datetime]:
    """Newest earlier-batch played_at per user, keyed by lower-cased user name.

    Last.fm user names are case-insensitive, so `RJ` and `rj` share a watermark.
    """
    seam.require_postgres(conn, "Last.fm's incremental window (watermarks, lookback)")
    rows = conn.execute(
        "select lower(user_name), max(played_at) from raw.lastfm_scrobbles "
        "where _source = %s and _logical_date < %s and lower(user_name) = any(%s) "
        "group by lower(user_name)",
        [SOURCE, logical_date, [user.lower() for user in users]],
    ).fetchall()
    return {user: played_at for user, played_at in rows}


def loaded_scrobbles(
    conn: psycopg.Connection,
    marks: Mapping[str, dt.datetime],
    logical_date: dt.date,
    lookback_days: int,
) -> dict[str, frozenset[ScrobbleKey]]:
    """What earlier batches hold of each user's lookback: the scrobbles after
    `lookback_start` (the watermark is their newest), keyed by lower-cased user name.

    `marks` are the users' watermarks (`watermarks`). A run re-reads these scrobbles and
    leaves them out of its batch; with no lookback there is nothing to re-read.
    """
    if lookback_days <= 0 or not marks:
        return {}
    users = sorted(marks)
    rows = conn.execute(
        "select lower(s.user_name), s.played_at, s.artist_name, s.track_name, s.album_name "
        "from raw.lastfm_scrobbles as s "
        "join unnest(%s::text[], %s::timestamptz[]) as w(user_key, since) "
        "on lower(s.user_name) = w.user_key "
        "where s._source = %s and s._logical_date < %s and s.played_at > w.since",
        [
            users,
            [lookback_start(marks[user], lookback_days) for user in users],
            SOURCE,
            logical_date,
        ],
    ).fetchall()
    loaded: dict[str, set[ScrobbleKey]] = {}
    for user, played_at, artist, track, album in rows:
        loaded.setdefault(user, set()).add((played_at.astimezone(dt.UTC), artist, track, album))
    return {user: frozenset(keys) for user, keys in loaded.items()}


def known_tracks(conn: psycopg.Connection, logical_date: dt.date) -> set[tuple[str, str]]:
    """(artist, title), lower-cased, whose track.getInfo an earlier batch already holds."""
    seam.require_postgres(conn, "Last.fm's track.getInfo backlog")
    rows: Iterable[tuple[str, str]] = conn.execute(
        "select distinct lower(artist_name), lower(track_name) from raw.lastfm_track_info "
        "where _source = %s and _logical_date < %s",
        [SOURCE, logical_date],
    ).fetchall()
    return set(rows)
