"""`python -m extract.lastfm --date YYYY-MM-DD [--users a,b]`: extract and load one date.

Reads the key and the users from the environment (LASTFM_API_KEY, LASTFM_USERS, ...),
starts or reuses the warehouse, fetches each user's scrobbles since their watermark up to
the date (exclusive), lands them and loads them. Without a key it says so and exits 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging

from extract.lastfm.config import LastfmConfig, parse_users
from extract.lastfm.extract import extract_recent_tracks, log_skipped_source
from extract.lastfm.load import load_landed


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m extract.lastfm",
        description="Extract Last.fm scrobbles for one logical date and load them into raw.")
    parser.add_argument("--date", type=dt.date.fromisoformat, required=True,
                        help="logical date: scrobbles played before its 00:00 UTC")
    parser.add_argument("--users", type=parse_users, default=None,
                        help="comma-separated Last.fm users (default: LASTFM_USERS)")
    args = parser.parse_args(argv)

    config = LastfmConfig.from_env()
    if not config.enabled:
        log_skipped_source()
        return 0
    from warehouse import connections
    from warehouse.bootstrap import bootstrap

    connections.ensure_warehouse()
    with connections.connect() as conn:
        bootstrap(conn)
        folder = extract_recent_tracks(args.date, args.users, config=config, conn=conn)
        counts = load_landed(conn, folder, args.date)
    for name, rows in counts.items():
        print(f"{name}: {rows:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
