"""`python -m quality check raw|marts [--date YYYY-MM-DD]`: a checkpoint without Airflow.

Runs against the warehouse of `warehouse.connections` (WAREHOUSE_URL, else the embedded
one), prints every expectation's outcome and exits 1 when a critical one failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

from observability.logs import configure_logging, print_failure
from quality.summary import format_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quality", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="run a checkpoint")
    check.add_argument("checkpoint", choices=["raw", "marts"])
    check.add_argument(
        "--date",
        type=dt.date.fromisoformat,
        default=dt.datetime.now(dt.UTC).date(),
        help="logical date (default: today, UTC)",
    )
    check.add_argument(
        "--no-row-bounds",
        action="store_true",
        help="skip the comparison with the previous run's row counts",
    )
    check.add_argument(
        "--no-store", action="store_true", help="do not write quality.* (read-only run)"
    )
    args = parser.parse_args(argv)
    configure_logging(logging.WARNING)  # the table printed below is the report

    import psycopg

    from quality.checkpoints import check_marts, check_raw
    from quality.config import Thresholds
    from quality.errors import QualityCheckFailed
    from warehouse import connections
    from warehouse.embedded import WarehouseError

    thresholds = Thresholds.from_env(**({"row_bounds": False} if args.no_row_bounds else {}))
    run = check_raw if args.checkpoint == "raw" else check_marts
    try:
        url = connections.ensure_warehouse()
        summary = run(url, args.date, thresholds=thresholds, persist=not args.no_store)
    except (WarehouseError, psycopg.OperationalError) as error:
        print_failure(error)
        return 2
    except psycopg.errors.UndefinedTable as error:
        print_failure(
            error,
            "the checkpoint reads tables that are not there yet: load data "
            "(`make ingest SOURCE=...`) and build the marts (`make demo`) first",
        )
        return 2
    except QualityCheckFailed as failed:
        print(format_table(list(failed.summary.outcomes)), file=sys.stderr)
        print(failed, file=sys.stderr)
        return 1
    if summary.outcomes:
        print(format_table(list(summary.outcomes)))
    print(summary.headline())
    return 0


if __name__ == "__main__":
    sys.exit(main())
