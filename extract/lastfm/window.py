"""Which scrobbles a run for a logical date fetches: from the user's watermark to the date.

The watermark is not stored anywhere: it is the newest `played_at` of the user's earlier
batches in raw.lastfm_scrobbles (`_source = 'lastfm'`, `_logical_date` before the run's).
Batches of the run's own date and later ones are ignored, so rerunning a date asks for
exactly the same window again and its batch is replaced by the same rows. The window ends
at 00:00 UTC of the logical date (exclusive), the synthetic source's convention: the batch
for D holds what was played before D, so a daily run at D 00:00 collects the whole of D-1.

Last.fm documents `from`/`to` loosely, so the window is enforced on our side too: `from`
is sent as the watermark itself and rows at or before it are dropped as already loaded
(whether the API treats `from` as inclusive or not), and `to` as the end, with rows at or
after it left for the next batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg

from extract.lastfm.config import SOURCE


@dataclass(frozen=True)
class Window:
    """[since, until) with `since` exclusive when it is a watermark, None = no lower bound."""

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


def plan_window(logical_date: dt.date, watermark: dt.datetime | None,
                initial_days: int | None) -> Window:
    """The window after `watermark`, or the first run's lookback (None: everything)."""
    until = window_end(logical_date)
    if watermark is not None:
        return Window(until=until, since=watermark, since_is_watermark=True)
    if initial_days is None:
        return Window(until=until)
    return Window(until=until, since=until - dt.timedelta(days=initial_days))


def watermarks(conn: psycopg.Connection, users: Sequence[str],
               logical_date: dt.date) -> dict[str, dt.datetime]:
    """Newest earlier-batch played_at per user, keyed by lower-cased user name.

    Last.fm user names are case-insensitive, so `RJ` and `rj` share a watermark.
    """
    rows = conn.execute(
        "select lower(user_name), max(played_at) from raw.lastfm_scrobbles "
        "where _source = %s and _logical_date < %s and lower(user_name) = any(%s) "
        "group by lower(user_name)",
        [SOURCE, logical_date, [user.lower() for user in users]],
    ).fetchall()
    return {user: played_at for user, played_at in rows}


def known_tracks(conn: psycopg.Connection, logical_date: dt.date
                 ) -> set[tuple[str, str]]:
    """(artist, title), lower-cased, whose track.getInfo an earlier batch already holds."""
    rows: Iterable[tuple[str, str]] = conn.execute(
        "select distinct lower(artist_name), lower(track_name) from raw.lastfm_track_info "
        "where _source = %s and _logical_date < %s",
        [SOURCE, logical_date],
    ).fetchall()
    return set(rows)
