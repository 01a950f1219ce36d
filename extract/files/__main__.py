"""`python -m extract.files`: import listening exports or the Kaggle dataset from the shell.

    python -m extract.files import PATH [--user NAME] [--date YYYY-MM-DD] [--dry-run]
    python -m extract.files kaggle [CSV] [--date YYYY-MM-DD] [--dry-run]

PATH is a file, a folder or a zip (gzipped files anywhere inside are fine). Every file's
kind and layout is detected from its content; files that are not listening history are
listed as skipped. A broken file stops the import before anything is loaded, with one line
naming it (exit status 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from pathlib import Path

import psycopg

from extract.files.errors import FileImportError
from extract.files.importer import ParsedImport, parse_path
from extract.files.kaggle_source import DATASET, locate_kaggle_csv
from extract.files.load import ImportResult, load_parsed
from observability.logs import configure_logging, print_failure
from warehouse.embedded import WarehouseError

WHAT_FITS = (
    "Last.fm scrobble exports (CSV/TSV) and Spotify account-data exports "
    "(StreamingHistory*.json, endsong_*.json, Streaming_History_Audio_*.json), as "
    "files, a folder or a zip; see extract/files/README.md"
)


def next_step(error: FileImportError) -> str | None:
    """What to do about a file that cannot be imported."""
    if error.name in ("kaggle", DATASET):
        return None  # the message already says which variable to set or what to install
    if error.problem == "no such file or folder":
        return f"check the path: it should point at {WHAT_FITS}"
    return (
        "fix or remove that file (a fresh export or download usually is whole), then "
        "rerun: nothing was loaded"
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m extract.files",
        description="Import listening-history exports or the Kaggle tracks dataset into raw.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    today = dt.datetime.now(dt.UTC).date()
    listening = commands.add_parser("import", help="import listening-history exports")
    listening.add_argument("path", type=Path, help="a file, folder or zip of exports")
    listening.add_argument(
        "--user",
        help="whose history this is (default: the file's own "
        "user column, else the file name's part before `__`)",
    )
    kaggle = commands.add_parser("kaggle", help="load the Kaggle Spotify tracks dataset")
    kaggle.add_argument(
        "csv",
        type=Path,
        nargs="?",
        help="the dataset CSV (default: KAGGLE_TRACKS_CSV, else a download "
        "with KAGGLE_USERNAME/KAGGLE_KEY)",
    )
    for command in (listening, kaggle):
        command.add_argument(
            "--date",
            type=dt.date.fromisoformat,
            default=today,
            help="the batch's logical date (default: today, UTC); "
            "re-importing for the same date replaces that batch",
        )
        command.add_argument(
            "--dry-run", action="store_true", help="parse and report, load nothing"
        )
    return parser.parse_args(argv)


def _report(parsed: ParsedImport, result: ImportResult | None, seconds: float) -> None:
    for file in parsed.files:
        reasons = ", ".join(f"{reason}: {n:,}" for reason, n in file.reasons.items())
        print(
            f"{file.name}  [{file.layout}]  {file.rows_in:,} rows -> "
            f"{file.loaded.height:,} loaded, {file.rejected.height:,} quarantined"
            + (f" ({reasons})" if reasons else "")
        )
    for skipped in parsed.skipped:
        print(f"{skipped.name}  skipped: {skipped.why}")
    if result is not None:
        for load in result.loads.values():
            print(
                f"raw.{load.table} _source={load.source} _logical_date={load.logical_date}:"
                f" {load.rows_loaded:,} rows loaded ({load.rows_replaced:,} replaced), "
                f"{load.rows_rejected:,} in raw_rejected.rows"
            )
    print(f"{len(parsed.files)} files, {len(parsed.skipped)} skipped, {seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    configure_logging(logging.WARNING)  # the report below says what each file held
    args = _arguments(argv)
    started = time.perf_counter()
    try:
        if args.command == "import":
            parsed = parse_path(args.path, user=args.user)
        else:
            parsed = parse_path(locate_kaggle_csv(args.csv), accept=("kaggle",))
        if not parsed.files:
            print_failure(
                f"nothing to import in {getattr(args, 'path', None) or args.csv}",
                f"point at {WHAT_FITS}",
            )
            _report(parsed, None, time.perf_counter() - started)
            return 1
        result = None
        if not args.dry_run:
            from warehouse import connections
            from warehouse.bootstrap import bootstrap

            connections.ensure_warehouse()
            with connections.connect() as conn:
                bootstrap(conn)
                result = ImportResult(parsed, load_parsed(conn, parsed, logical_date=args.date))
    except FileImportError as exc:
        print_failure(exc, next_step(exc))
        return 2
    except (WarehouseError, psycopg.OperationalError) as exc:
        print_failure(exc)
        return 2
    _report(parsed, result, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
