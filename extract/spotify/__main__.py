"""`python -m extract.spotify --date YYYY-MM-DD`: extract, land and load one date, no Airflow.

Without `SPOTIFY_CLIENT_ID`/`SPOTIFY_CLIENT_SECRET` it logs one line and exits 0 before
touching the warehouse: running without Spotify is a supported setup, not a failure.
"""

from __future__ import annotations

import argparse
import datetime as dt

import psycopg
from spotipy.exceptions import SpotifyException, SpotifyOauthError

from extract.spotify.api import SpotifyForbidden
from extract.spotify.config import (
    CLIENT_ID_VAR,
    CLIENT_SECRET_VAR,
    REFRESH_TOKEN_VAR,
    SpotifyConfig,
    log_skipped,
)
from extract.spotify.pipeline import FetchLimits, run_spotify
from extract.spotify.retry import SpotifyUnavailable
from observability.logs import configure_logging, print_failure

RERUN = "`make ingest SOURCE=spotify` (a rerun replaces the date's batch)"


def next_step(error: Exception) -> str | None:
    """What to do when Spotify refused or gave up; None for errors without advice."""
    if isinstance(error, SpotifyOauthError):
        if error.error == "invalid_grant":
            return (
                f"{REFRESH_TOKEN_VAR} was refused (expired or revoked): authorize the app "
                f"again for the listener and set the new refresh token in .env"
            )
        return (
            f"check {CLIENT_ID_VAR} and {CLIENT_SECRET_VAR} in .env (the app's "
            "credentials in the Spotify developer dashboard)"
        )
    if isinstance(error, SpotifyUnavailable):
        return f"Spotify is rate-limiting or down: wait, then rerun {RERUN}"
    if isinstance(error, SpotifyForbidden):
        return "give the app access in the Spotify developer dashboard, then rerun " + RERUN
    if isinstance(error, SpotifyException) and error.http_status == 401:
        return f"check {CLIENT_ID_VAR}, {CLIENT_SECRET_VAR} and {REFRESH_TOKEN_VAR} in .env"
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = FetchLimits()
    parser = argparse.ArgumentParser(
        prog="python -m extract.spotify",
        description="Extract the Spotify Web API into raw.spotify_*.",
    )
    parser.add_argument(
        "--date",
        type=dt.date.fromisoformat,
        default=dt.datetime.now(dt.UTC).date(),
        help="logical date of the batch (default: today, UTC)",
    )
    parser.add_argument("--max-searches", type=int, default=defaults.max_searches)
    parser.add_argument("--max-tracks", type=int, default=defaults.max_tracks)
    parser.add_argument("--max-artists", type=int, default=defaults.max_artists)
    parser.add_argument(
        "--recently-played-only",
        action="store_true",
        help="only poll recently-played (for polls more frequent than daily)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(argv)
    config = SpotifyConfig.from_env()
    if config is None:
        log_skipped()
        return 0

    from warehouse import connections
    from warehouse.bootstrap import bootstrap
    from warehouse.embedded import WarehouseError

    limits = FetchLimits(
        max_searches=args.max_searches, max_tracks=args.max_tracks, max_artists=args.max_artists
    )
    try:
        connections.ensure_warehouse()
        with connections.connect() as conn:
            bootstrap(conn)
            counts = run_spotify(
                conn, args.date, config=config, limits=limits, catalog=not args.recently_played_only
            )
    except (SpotifyOauthError, SpotifyUnavailable, SpotifyForbidden) as error:
        print_failure(error, next_step(error))
        return 2
    except SpotifyException as error:
        if (hint := next_step(error)) is None:
            raise
        print_failure(error, hint)
        return 2
    except (WarehouseError, psycopg.OperationalError) as error:
        print_failure(error)
        return 2
    for table, rows in counts.items():
        print(f"raw.{table}: {rows:,} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
