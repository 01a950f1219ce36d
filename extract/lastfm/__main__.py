"""`python -m extract.lastfm --date YYYY-MM-DD [--users a,b]`: extract and load one date.

Reads the key and the users from the environment (LASTFM_API_KEY, LASTFM_USERS, ...),
starts or reuses the warehouse, fetches each user's scrobbles since their watermark up to
the date (exclusive), lands them and loads them. Without a key it says so and exits 0.
"""

from __future__ import annotations

import argparse
import datetime as dt

import psycopg

from extract.lastfm.client import RATE_LIMITED, LastfmApiError
from extract.lastfm.config import LastfmConfig, parse_users
from extract.lastfm.extract import extract_recent_tracks, log_skipped_source
from extract.lastfm.load import load_landed
from observability.logs import configure_logging, print_failure

# Last.fm error codes that mean the credentials are wrong (invalid or suspended key,
# failed authentication, bad signature: the secret).
_BAD_CREDENTIALS = {
    "4": "LASTFM_API_KEY",
    "10": "LASTFM_API_KEY",
    "26": "LASTFM_API_KEY",
    "13": "LASTFM_API_SECRET",
}


def next_step(error: LastfmApiError) -> str:
    """What to do when a Last.fm call failed for good."""
    if error.code in _BAD_CREDENTIALS:
        return (
            f"check {_BAD_CREDENTIALS[error.code]} in .env (an API account's key and "
            "shared secret from https://www.last.fm/api/accounts), then rerun"
        )
    if error.code == RATE_LIMITED:
        return (
            "Last.fm's rate limit held through every retry: wait a few minutes and rerun "
            "(the rerun replaces the date's batch), or slow down with "
            "LASTFM_MIN_INTERVAL_SECONDS"
        )
    if error.transient:
        return (
            "Last.fm was unreachable or down: check the network (and LASTFM_API_URL if "
            "set), then rerun; the rerun replaces the date's batch"
        )
    return "check the request in the message above (user names in LASTFM_USERS), then rerun"


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(
        prog="python -m extract.lastfm",
        description="Extract Last.fm scrobbles for one logical date and load them into raw.",
    )
    parser.add_argument(
        "--date",
        type=dt.date.fromisoformat,
        required=True,
        help="logical date: scrobbles played before its 00:00 UTC",
    )
    parser.add_argument(
        "--users",
        type=parse_users,
        default=None,
        help="comma-separated Last.fm users (default: LASTFM_USERS)",
    )
    args = parser.parse_args(argv)

    config = LastfmConfig.from_env()
    if not config.enabled:
        log_skipped_source()
        return 0
    from warehouse import connections
    from warehouse.bootstrap import bootstrap
    from warehouse.embedded import WarehouseError

    try:
        connections.ensure_warehouse()
        with connections.connect() as conn:
            bootstrap(conn)
            folder = extract_recent_tracks(args.date, args.users, config=config, conn=conn)
            counts = load_landed(conn, folder, args.date)
    except LastfmApiError as error:
        print_failure(error, next_step(error))
        return 2
    except (WarehouseError, psycopg.OperationalError) as error:
        print_failure(error)
        return 2
    for name, rows in counts.items():
        print(f"{name}: {rows:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
