"""Spotify Web API source (spotipy): track and artist metadata, search matches, and the
authorized listener's recently-played plays, landed as Parquet and loaded into raw.spotify_*
with `_source = 'spotify'`.

What the API gives, and what it does not:
- Catalog metadata with the app's keys (`SPOTIFY_CLIENT_ID`, `SPOTIFY_CLIENT_SECRET`,
  client-credentials flow): tracks and artists by id, 50 per request; a search by artist and
  title for plays that carry no Spotify id (Last.fm scrobbles) -> raw.spotify_track_matches.
- Recently-played for one listener who authorized the app once (`SPOTIFY_REFRESH_TOKEN`,
  scope `user-read-recently-played`). **The API keeps only the last 50 plays and cannot be
  paged further back**, so it is a feed to poll (at least every few hours for a heavy
  listener), not a history: each poll keeps the plays newer than the previous one and warns
  when it may have missed some. Full histories come from the user's data export
  (`extract/files/`, `_source = 'spotify_export'`). In raw.spotify_plays, `ended_at` is the
  API's `played_at` and `ms_played` is NULL: the API does not report how long a track played,
  so the 30-second play rule cannot be applied to these rows.
- Audio features answer 403 to apps created after 27 Nov 2024: "not available", logged once;
  Encore's audio features come from the Kaggle dataset.
- Rate limits: 429 Retry-After is honoured within bounds (`RetryPolicy`); spotipy's own
  retries are off so that those bounds hold (see `extract.spotify.clients`).
- Without app keys the source is skipped with one log line; without a refresh token only
  recently-played is skipped. Secrets are never logged.

In Airflow: `land_spotify(conn, date)` then `load_landed_spotify(conn, folder, date)`;
polls more frequent than daily pass `catalog=False`. Without Airflow:
`python -m extract.spotify --date YYYY-MM-DD [--recently-played-only]`.
"""

from __future__ import annotations

from extract.spotify.api import SpotifyApi, SpotifyForbidden, UnexpectedAnswer
from extract.spotify.config import SpotifyConfig
from extract.spotify.pipeline import (
    SOURCE,
    TABLES,
    FetchLimits,
    SpotifyExtract,
    extract_spotify,
    fetch_artists,
    fetch_tracks,
    land_spotify,
    load_landed_spotify,
    poll_recently_played,
    run_spotify,
    search_matches,
)
from extract.spotify.retry import RetryPolicy, SpotifyUnavailable

__all__ = [
    "SOURCE",
    "TABLES",
    "FetchLimits",
    "RetryPolicy",
    "SpotifyApi",
    "SpotifyConfig",
    "SpotifyExtract",
    "SpotifyForbidden",
    "SpotifyUnavailable",
    "UnexpectedAnswer",
    "extract_spotify",
    "fetch_artists",
    "fetch_tracks",
    "land_spotify",
    "load_landed_spotify",
    "poll_recently_played",
    "run_spotify",
    "search_matches",
]
