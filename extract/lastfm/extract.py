"""Extract Last.fm scrobbles and metadata for a logical date into the landing zone.

Two ways in, same data:
- `extract_recent_tracks(D)`: every configured user, then track metadata, landed together
  under `landing/lastfm/<D>/` (the CLI and a single Airflow task use this);
- per user, for a DAG that maps one task per user: `extract_user(user, D)` lands
  `landing/lastfm-users/<user>/<D>/`, then `extract_track_info(D, folders)` lands
  `landing/lastfm-track-info/<D>/`; `load_landed` takes the list of folders.

All users of a date must be loaded in one `load_landed` call: the loader replaces the whole
(lastfm, D) batch, so loading users one at a time would keep only the last.

With no API key nothing is fetched or landed: one log line, and None instead of a folder,
which `load_landed` treats as "nothing to load" (an empty landing would instead replace
the date's batch with nothing).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import psycopg

from extract.lastfm.checks import CheckedScrobbles, check_scrobbles
from extract.lastfm.client import LastfmClient
from extract.lastfm.config import SOURCE, LastfmConfig
from extract.lastfm.fetch import OK, fetch_recent_tracks, fetch_track_info, fetch_user_info
from extract.lastfm.network import build_network
from extract.lastfm.window import (
    ScrobbleKey,
    known_tracks,
    loaded_scrobbles,
    plan_window,
    watermarks,
)
from observability.progress import progress
from warehouse import connections
from warehouse.landing import land_frames, read_landed
from warehouse.raw_tables import LASTFM_SCROBBLES, LASTFM_TRACK_INFO, LASTFM_USER_INFO

log = logging.getLogger(__name__)

USER_PARTS = "lastfm-users"
TRACK_INFO_PART = "lastfm-track-info"
REPORT = "lastfm_users_report"
REJECTED_SUFFIX = "__rejected"
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

REPORT_SCHEMA: dict[str, pl.DataType] = {
    "user_name": pl.String(),
    "requested_as": pl.String(),
    "status": pl.String(),
    "detail": pl.String(),
    "watermark": pl.Datetime("us", "UTC"),
    "window_from": pl.Datetime("us", "UTC"),
    "window_to": pl.Datetime("us", "UTC"),
    "pages": pl.Int64(),
    "fetched": pl.Int64(),
    "now_playing": pl.Int64(),
    "outside_window": pl.Int64(),
    "duplicates": pl.Int64(),
    "already_loaded": pl.Int64(),
    "accepted": pl.Int64(),
    "rejected": pl.Int64(),
}


def log_skipped_source() -> None:
    log.info("Last.fm source skipped: LASTFM_API_KEY is not set")


def lastfm_users(config: LastfmConfig | None = None) -> list[str]:
    """The users to extract (a DAG maps one task over them); [] when the source is off."""
    config = config or LastfmConfig.from_env()
    if not config.enabled:
        log_skipped_source()
        return []
    return list(config.users)


def make_client(config: LastfmConfig) -> LastfmClient:
    network = build_network(config.api_key, config.api_secret, config.api_url)
    return LastfmClient(network, min_interval=config.min_interval_seconds, retry=config.retry)


@contextmanager
def _connection(conn: psycopg.Connection | None) -> Iterator[psycopg.Connection]:
    """The caller's connection, or a short-lived one to the configured warehouse."""
    if conn is not None:
        yield conn
        return
    with connections.connect() as own:
        yield own


def without_loaded(checked: CheckedScrobbles, loaded: Collection[ScrobbleKey]) -> CheckedScrobbles:
    """`checked` without the accepted scrobbles an earlier batch already holds (re-read in
    the lookback), counted as `already_loaded`."""
    rows = checked.accepted
    if loaded:
        keys = rows.select("played_at", "artist_name", "track_name", "album_name").iter_rows()
        rows = rows.filter(pl.Series([key not in loaded for key in keys], dtype=pl.Boolean))
    counts = {
        **checked.counts,
        "accepted": rows.height,
        "already_loaded": checked.accepted.height - rows.height,
    }
    return CheckedScrobbles(rows, checked.rejected, counts)


def user_frames(
    client: LastfmClient,
    config: LastfmConfig,
    user: str,
    logical_date: dt.date,
    watermark: dt.datetime | None,
    now: dt.datetime | None = None,
    *,
    loaded: Collection[ScrobbleKey] = frozenset(),
) -> dict[str, pl.DataFrame]:
    """One user's frames: scrobbles, their rejects, user info, and a one-row report.

    `loaded` is what earlier batches hold of the window's lookback (`loaded_scrobbles`):
    re-read, those scrobbles are counted as `already_loaded` and not landed again."""
    now = now or dt.datetime.now(dt.UTC)
    window = plan_window(logical_date, watermark, config.initial_days, config.lookback_days)
    fetched = fetch_recent_tracks(client, user, window, config.page_size)
    checked = without_loaded(check_scrobbles(fetched.user_name, fetched.items, window, now), loaded)
    info = fetch_user_info(client, user) if fetched.status == OK else None
    info_rows = [{"user_name": fetched.user_name, **info, "fetched_at": now}] if info else []
    counts = checked.counts
    report = {
        "user_name": fetched.user_name,
        "requested_as": user,
        "status": fetched.status,
        "detail": fetched.detail,
        "watermark": watermark,
        "window_from": window.since,
        "window_to": window.until,
        "pages": fetched.pages,
        **counts,
    }
    if fetched.status == OK:
        log.info(
            "Last.fm %s: %d page(s), %d item(s) from %s to %s: %d accepted, %d rejected, "
            "%d now-playing dropped, %d outside the window, %d duplicate(s), "
            "%d already loaded",
            fetched.user_name,
            fetched.pages,
            counts["fetched"],
            window.since.isoformat() if window.since else "the beginning",
            window.until.isoformat(),
            counts["accepted"],
            counts["rejected"],
            counts["now_playing"],
            counts["outside_window"],
            counts["duplicates"],
            counts["already_loaded"],
        )
    return {
        LASTFM_SCROBBLES.name: checked.accepted,
        LASTFM_SCROBBLES.name + REJECTED_SUFFIX: checked.rejected,
        LASTFM_USER_INFO.name: pl.DataFrame(info_rows, schema=LASTFM_USER_INFO.polars_schema),
        REPORT: pl.DataFrame([report], schema=REPORT_SCHEMA),
    }


def _tracks_to_describe(
    scrobbles: pl.DataFrame, known: set[tuple[str, str]], limit: int
) -> list[tuple[str, str]]:
    """New (artist, title) pairs, most played first, at most `limit`: a stable order, so a
    rerun of the date asks for the same tracks."""
    plays = Counter(zip(scrobbles["artist_name"], scrobbles["track_name"], strict=True))
    by_key: dict[tuple[str, str], tuple[str, str]] = {}
    for pair, _ in sorted(plays.items(), key=lambda item: (-item[1], item[0])):
        key = (pair[0].lower(), pair[1].lower())
        if key not in known and key not in by_key:
            by_key[key] = pair
    return list(by_key.values())[:limit]


def track_info_frames(
    client: LastfmClient,
    config: LastfmConfig,
    scrobbles: pl.DataFrame,
    known: set[tuple[str, str]],
    now: dt.datetime | None = None,
) -> dict[str, pl.DataFrame]:
    """track.getInfo for the batch's tracks that no earlier batch described."""
    now = now or dt.datetime.now(dt.UTC)
    wanted = _tracks_to_describe(scrobbles, known, config.track_info_max)
    records, counts = fetch_track_info(client, wanted)
    log.info(
        "Last.fm track.getInfo: %d new track(s) asked (cap %d): %d found, %d not found, %d failed",
        len(wanted),
        config.track_info_max,
        counts["found"],
        counts["not_found"],
        counts["failed"],
    )
    rows = [{**record, "fetched_at": now} for record in records]
    return {LASTFM_TRACK_INFO.name: pl.DataFrame(rows, schema=LASTFM_TRACK_INFO.polars_schema)}


def _users_part(user: str) -> str:
    """The landing "source" of one user's part; the name becomes a folder, so it is checked."""
    if not USER_NAME.fullmatch(user):
        raise ValueError(f"not a Last.fm user name: {user!r}")
    return f"{USER_PARTS}/{user.lower()}"


def extract_user(
    user: str,
    logical_date: dt.date,
    *,
    config: LastfmConfig | None = None,
    conn: psycopg.Connection | None = None,
    client: LastfmClient | None = None,
) -> Path | None:
    """Fetch one user's window for `logical_date` and land it; None when the source is off.

    The watermark comes from the warehouse (`conn`, else a connection of our own).
    """
    config = config or LastfmConfig.from_env()
    if not config.enabled:
        log_skipped_source()
        return None
    with _connection(conn) as connection:
        marks = watermarks(connection, [user], logical_date)
        loaded = loaded_scrobbles(connection, marks, logical_date, config.lookback_days)
    frames = user_frames(
        client or make_client(config),
        config,
        user,
        logical_date,
        marks.get(user.lower()),
        loaded=loaded.get(user.lower(), frozenset()),
    )
    return land_frames(_users_part(user), logical_date, frames)


def extract_track_info(
    logical_date: dt.date,
    folders: Sequence[Path | str | None],
    *,
    config: LastfmConfig | None = None,
    conn: psycopg.Connection | None = None,
    client: LastfmClient | None = None,
) -> Path | None:
    """Describe the tracks scrobbled in the landed user folders; None when off or capped to 0."""
    config = config or LastfmConfig.from_env()
    if not config.enabled:
        log_skipped_source()
        return None
    if config.track_info_max <= 0:
        return None
    scrobbles = combine([read_landed(Path(folder)) for folder in folders if folder])
    scrobbles_frame = scrobbles.get(LASTFM_SCROBBLES.name)
    if scrobbles_frame is None:
        return None
    with _connection(conn) as connection:
        known = known_tracks(connection, logical_date)
    frames = track_info_frames(client or make_client(config), config, scrobbles_frame, known)
    return land_frames(TRACK_INFO_PART, logical_date, frames)


def extract_recent_tracks(
    logical_date: dt.date,
    users: Sequence[str] | None = None,
    *,
    config: LastfmConfig | None = None,
    conn: psycopg.Connection | None = None,
    client: LastfmClient | None = None,
) -> Path | None:
    """Every user's window for `logical_date` plus track metadata, landed as one folder.

    `users` overrides LASTFM_USERS. Returns `landing/lastfm/<date>/`, or None when the
    source is off (no key) or no user is configured.
    """
    config = config or LastfmConfig.from_env()
    if not config.enabled:
        log_skipped_source()
        return None
    names = list(users) if users is not None else list(config.users)
    if not names:
        log.info("Last.fm source skipped: no users (set LASTFM_USERS)")
        return None
    client = client or make_client(config)
    now = dt.datetime.now(dt.UTC)
    with _connection(conn) as connection:
        marks = watermarks(connection, names, logical_date)
        loaded = loaded_scrobbles(connection, marks, logical_date, config.lookback_days)
        known = known_tracks(connection, logical_date) if config.track_info_max > 0 else set()
    parts = []
    with progress("Last.fm users", total=len(names), unit="users") as bar:
        for user in names:
            parts.append(
                user_frames(
                    client,
                    config,
                    user,
                    logical_date,
                    marks.get(user.lower()),
                    now,
                    loaded=loaded.get(user.lower(), frozenset()),
                )
            )
            bar.advance()
    frames = combine(parts)
    if config.track_info_max > 0:
        frames.update(track_info_frames(client, config, frames[LASTFM_SCROBBLES.name], known, now))
    folder = land_frames(SOURCE, logical_date, frames)
    report = frames[REPORT]
    skipped = report.filter(pl.col("status") != OK)
    log.info(
        "Last.fm %s: %d user(s), %d skipped%s, %d scrobble(s), %d rejected, %d call(s); "
        "landed in %s",
        logical_date,
        report.height,
        skipped.height,
        "".join(f" [{row['user_name']}: {row['status']}]" for row in skipped.to_dicts()),
        frames[LASTFM_SCROBBLES.name].height,
        frames[LASTFM_SCROBBLES.name + REJECTED_SUFFIX].height,
        client.calls,
        folder,
    )
    return folder


def combine(parts: Sequence[dict[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """Frames of several landings, concatenated per name."""
    names = sorted({name for part in parts for name in part})
    return {
        name: pl.concat([part[name] for part in parts if name in part], how="vertical")
        for name in names
    }
