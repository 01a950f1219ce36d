"""`python -m extract.spotify --date YYYY-MM-DD`: extract, land and load one date, no Airflow.

Without `SPOTIFY_CLIENT_ID`/`SPOTIFY_CLIENT_SECRET` it logs one line and exits 0 before
touching the warehouse: running without Spotify is a supported setup, not a failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging

from extract.spotify.config import SpotifyConfig, log_skipped
from extract.spotify.pipeline import FetchLimits, run_spotify


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = FetchLimits()
    parser = argparse.ArgumentParser(prog="python -m extract.spotify",
                                     description="Extract the Spotify Web API into raw.spotify_*.")
    parser.add_argument("--date", type=dt.date.fromisoformat,
                        default=dt.datetime.now(dt.UTC).date(),
                        help="logical date of the batch (default: today, UTC)")
    parser.add_argument("--max-searches", type=int, default=defaults.max_searches)
    parser.add_argument("--max-tracks", type=int, default=defaults.max_tracks)
    parser.add_argument("--max-artists", type=int, default=defaults.max_artists)
    parser.add_argument("--recently-played-only", action="store_true",
                        help="only poll recently-played (for polls more frequent than daily)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    config = SpotifyConfig.from_env()
    if config is None:
        log_skipped()
        return 0

    from warehouse import connections
    from warehouse.bootstrap import bootstrap

    limits = FetchLimits(max_searches=args.max_searches, max_tracks=args.max_tracks,
                         max_artists=args.max_artists)
    connections.ensure_warehouse()
    with connections.connect() as conn:
        bootstrap(conn)
        counts = run_spotify(conn, args.date, config=config, limits=limits,
                             catalog=not args.recently_played_only)
    for table, rows in counts.items():
        print(f"raw.{table}: {rows:,} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
