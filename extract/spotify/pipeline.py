"""Extract Spotify into the landing zone, then load the landing into raw.spotify_*.

One extract run, for one logical date:
1. poll the listener's recently-played (with a refresh token) -> raw.spotify_plays
2. search for (artist, title) pairs played without an id   -> raw.spotify_track_matches
3. fetch tracks: ids played or matched, not fetched before  -> raw.spotify_tracks
   (the track objects recently-played carries are used as they are, without a lookup)
4. fetch the artists of all fetched tracks, not fetched before -> raw.spotify_artists
A poll-only run (`catalog=False`) does step 1 alone, for schedules more frequent than daily.
Rejected inputs (unknown ids, objects missing required fields) land beside each table as
`<table>.rejected` and are quarantined in raw_rejected.rows by the load.

Landing and loading are separate steps (as for every source): a failed load retries
without calling Spotify again. The load replaces the (spotify, logical date) batch of each
table that was landed; a table whose step did not run (no refresh token: no plays) is left
alone. Without app keys, nothing runs and one log line says so.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import psycopg

from extract.spotify import backlog
from extract.spotify.api import Lookup, SpotifyApi
from extract.spotify.clients import app_client, user_client
from extract.spotify.config import SpotifyConfig, log_skipped
from extract.spotify.matching import match_row, search_query
from extract.spotify.parse import (
    Parsed,
    frame,
    parse_artists,
    parse_plays,
    parse_tracks,
    played_tracks,
    reject,
    rejected_frame,
)
from extract.spotify.recent import merge_poll
from extract.spotify.retry import RetryPolicy
from observability.progress import progress
from warehouse.landing import land_frames, read_landed
from warehouse.raw_tables import (
    SPOTIFY_ARTISTS,
    SPOTIFY_PLAYS,
    SPOTIFY_TRACK_MATCHES,
    SPOTIFY_TRACKS,
)
from warehouse.seam import load_batch

log = logging.getLogger(__name__)

SOURCE = backlog.SOURCE
TABLES = (SPOTIFY_TRACK_MATCHES, SPOTIFY_TRACKS, SPOTIFY_ARTISTS, SPOTIFY_PLAYS)
REJECTED_SUFFIX = ".rejected"
SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class FetchLimits:
    """Most items one run asks for; the rest stays pending for the next run."""

    max_searches: int = 500
    max_tracks: int = 5000
    max_artists: int = 5000


@dataclass
class SpotifyExtract:
    """Parsed output of one run, by raw table; a table absent here was not extracted."""

    parts: dict[str, Parsed] = field(default_factory=dict)

    def landing_frames(self) -> dict[str, pl.DataFrame]:
        frames: dict[str, pl.DataFrame] = {}
        for name, parsed in self.parts.items():
            frames[name] = parsed.rows
            if parsed.rejected.height:
                frames[name + REJECTED_SUFFIX] = parsed.rejected
        return frames

    def summary(self) -> str:
        return (
            ", ".join(
                f"{name} {parsed.rows.height} rows ({parsed.rejected.height} rejected)"
                for name, parsed in self.parts.items()
            )
            or "nothing"
        )


# The steps: each takes what to fetch and answers parsed rows ---------------------------


def search_matches(
    api: SpotifyApi, pairs: Sequence[tuple[str, str]], fetched_at: dt.datetime
) -> Parsed:
    """One search per (artist, title); a pair without an agreeing result gets a row with a
    NULL track_id, so it is not searched again."""
    unique = list(dict.fromkeys(pairs))
    rows = []
    with progress("Spotify searches", total=len(unique), unit="searches") as bar:
        for artist, title in unique:
            rows.append(
                match_row(artist, title, api.search_tracks(search_query(artist, title)), fetched_at)
            )
            bar.advance()
    return Parsed(frame(SPOTIFY_TRACK_MATCHES, rows), rejected_frame([]))


def fetch_tracks(
    api: SpotifyApi,
    track_ids: Sequence[str],
    fetched_at: dt.datetime,
    known: dict[str, dict[str, Any]] | None = None,
) -> Parsed:
    """Track metadata for `track_ids`, 50 per request. `known` holds track objects already
    in hand (from recently-played), used without a request. Ids that are not Spotify ids
    are quarantined without asking."""
    known = known or {}
    wanted = list(dict.fromkeys(track_ids))
    malformed = [track_id for track_id in wanted if not SPOTIFY_ID.match(track_id)]
    to_fetch = [t for t in wanted if SPOTIFY_ID.match(t) and t not in known]
    lookups: list[Lookup] = [(t, known[t]) for t in wanted if t in known]
    lookups += api.tracks(to_fetch) if to_fetch else []
    parsed = parse_tracks(lookups, fetched_at)
    invalid = rejected_frame(
        [reject(t, None, "invalid_id: not a Spotify track id") for t in malformed]
    )
    return Parsed(parsed.rows, pl.concat([parsed.rejected, invalid]))


def fetch_artists(api: SpotifyApi, artist_ids: Sequence[str], fetched_at: dt.datetime) -> Parsed:
    """Artist metadata (genres, popularity, followers) for `artist_ids`, 50 per request."""
    wanted = list(dict.fromkeys(artist_ids))
    valid = [a for a in wanted if SPOTIFY_ID.match(a)]
    parsed = parse_artists(api.artists(valid) if valid else [], fetched_at)
    invalid = rejected_frame(
        [
            reject(a, None, "invalid_id: not a Spotify artist id")
            for a in wanted
            if not SPOTIFY_ID.match(a)
        ]
    )
    return Parsed(parsed.rows, pl.concat([parsed.rejected, invalid]))


def poll_recently_played(
    api: SpotifyApi, conn: psycopg.Connection, logical_date: dt.date
) -> tuple[Parsed, dict[str, dict[str, Any]]]:
    """This date's spotify_plays batch after polling, and the track objects the poll carried."""
    user_name = api.me()["id"]
    items = api.recently_played()
    polled = parse_plays(items, user_name)
    outcome = merge_poll(polled.rows, backlog.poll_state(conn, user_name, logical_date))
    log.info(
        "spotify: recently-played for %s: %d plays fetched, %d new",
        user_name,
        outcome.fetched,
        outcome.new,
    )
    return Parsed(outcome.rows, polled.rejected), played_tracks(items)


# The run ---------------------------------------------------------------------------------


def extract_spotify(
    conn: psycopg.Connection,
    logical_date: dt.date,
    config: SpotifyConfig,
    *,
    limits: FetchLimits | None = None,
    retry: RetryPolicy | None = None,
    now: Callable[[], dt.datetime] = utc_now,
    catalog: bool = True,
) -> SpotifyExtract:
    """Plan from the warehouse, call Spotify, parse: everything but writing.

    `catalog=False` only polls recently-played: for a schedule more frequent than daily
    (the API keeps 50 plays), whose polls of one date then accumulate in that date's plays
    batch while the catalog lookups run once, with the daily run.
    """
    limits = limits or FetchLimits()
    fetched_at = now()
    result = SpotifyExtract()

    carried: dict[str, dict[str, Any]] = {}
    played_ids: list[str] = []
    if config.has_user:
        plays, carried = poll_recently_played(
            SpotifyApi(user_client(config), retry), conn, logical_date
        )
        result.parts[SPOTIFY_PLAYS.name] = plays
        # Every play the batch will hold, kept ones included: the plan reads other batches
        # only, so a rerun must name the tracks of the plays it keeps itself.
        played_ids = plays.rows["track_id"].drop_nulls().to_list()
    else:
        log.info("spotify: SPOTIFY_REFRESH_TOKEN not set: recently-played not polled")
    if not catalog:
        log.info("spotify: polled for %s: %s", logical_date, result.summary())
        return result

    app = SpotifyApi(app_client(config), retry)
    pairs = backlog.pending_searches(conn, logical_date, limits.max_searches)
    matches = search_matches(app, pairs, fetched_at)
    result.parts[SPOTIFY_TRACK_MATCHES.name] = matches

    matched_ids = matches.rows["track_id"].drop_nulls().to_list()
    track_ids = backlog.pending_track_ids(
        conn, logical_date, limits.max_tracks, extra_ids=[*matched_ids, *carried, *played_ids]
    )
    tracks = fetch_tracks(app, track_ids, fetched_at, known=carried)
    result.parts[SPOTIFY_TRACKS.name] = tracks

    new_artist_ids = {
        artist_id
        for ids in tracks.rows["artist_ids"].to_list()
        for artist_id in json.loads(ids)
        if artist_id
    }
    artist_ids = backlog.pending_artist_ids(
        conn, logical_date, limits.max_artists, extra_ids=new_artist_ids
    )
    result.parts[SPOTIFY_ARTISTS.name] = fetch_artists(app, artist_ids, fetched_at)
    log.info("spotify: extracted for %s: %s", logical_date, result.summary())
    return result


def land_spotify(
    conn: psycopg.Connection,
    logical_date: dt.date,
    *,
    config: SpotifyConfig | None = None,
    limits: FetchLimits | None = None,
    retry: RetryPolicy | None = None,
    now: Callable[[], dt.datetime] = utc_now,
    catalog: bool = True,
) -> str | None:
    """Extract into the landing zone; the landed folder, or None when skipped (no keys,
    or a poll-only run without a refresh token)."""
    config = config or SpotifyConfig.from_env()
    if config is None:
        log_skipped()
        return None
    extract = extract_spotify(
        conn, logical_date, config, limits=limits, retry=retry, now=now, catalog=catalog
    )
    if not extract.parts:
        return None
    return str(land_frames(SOURCE, logical_date, extract.landing_frames()))


def load_landed_spotify(
    conn: psycopg.Connection, folder: str | None, *, logical_date: dt.date
) -> dict[str, int]:
    """COPY a landed extract into raw.spotify_*, replacing the date's batch of each landed
    table (and its quarantined rows); rows loaded per table. `None` (skipped) loads nothing."""
    if folder is None:
        return {}
    frames = read_landed(Path(folder))
    loaded: dict[str, int] = {}
    for table in TABLES:
        if table.name not in frames:
            continue
        result = load_batch(
            conn,
            frames[table.name],
            table,
            source=SOURCE,
            logical_date=logical_date,
            rejected=frames.get(table.name + REJECTED_SUFFIX),
        )
        loaded[table.name] = result.rows_loaded
    return loaded


def run_spotify(
    conn: psycopg.Connection,
    logical_date: dt.date,
    *,
    config: SpotifyConfig | None = None,
    limits: FetchLimits | None = None,
    retry: RetryPolicy | None = None,
    now: Callable[[], dt.datetime] = utc_now,
    catalog: bool = True,
) -> dict[str, int]:
    """Extract, land and load one date; rows loaded per table ({} when skipped)."""
    folder = land_spotify(
        conn, logical_date, config=config, limits=limits, retry=retry, now=now, catalog=catalog
    )
    return load_landed_spotify(conn, folder, logical_date=logical_date)
