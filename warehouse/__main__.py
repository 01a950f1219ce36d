"""`python -m warehouse start|stop|status|url|env|psql|report|snowflake-ddl|snowflake-grants|
snowflake-load`: the warehouse without Airflow."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

import psycopg

from config import get_settings
from observability.logs import configure_logging, print_failure
from warehouse import connections, embedded
from warehouse.bootstrap import bootstrap


def _start() -> int:
    url = connections.ensure_warehouse()
    with connections.connect() as conn:
        bootstrap(conn)
    where = "embedded" if connections.uses_embedded() else "WAREHOUSE_URL"
    print(f"warehouse ready ({where}): {connections.redacted(url)}")
    return 0


def _stop() -> int:
    if not connections.uses_embedded():
        print("WAREHOUSE_URL is set: not stopping a server Encore does not own")
        return 0
    print("embedded warehouse stopped" if embedded.stop() else "embedded warehouse not running")
    return 0


def _status() -> int:
    if not connections.uses_embedded():
        print(f"using WAREHOUSE_URL: {connections.redacted(connections.warehouse_url())}")
        return 0
    srv = embedded.server()
    running = embedded.is_running(srv)
    print(
        f"embedded warehouse {'running' if running else 'stopped'}: {srv.url} (data {srv.data_dir})"
    )
    if not running:
        print(
            "next: start it with `make warehouse` (or `uv run python -m warehouse start`)",
            file=sys.stderr,
        )
    return 0 if running else 3


def _env() -> int:
    """Shell `export` lines for dbt and Airflow (eval "$(python -m warehouse env)")."""
    from warehouse.runtime import runtime_env

    for key, value in runtime_env().items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def _psql() -> int:
    connections.ensure_warehouse()
    psql = embedded.find_bin_dir() / "psql"
    os.execv(str(psql), [str(psql), connections.warehouse_url(), *sys.argv[2:]])


def _report() -> int:
    from warehouse.report import print_report

    print_report()
    return 0


def _snowflake_ddl() -> int:
    """The statements that create RAW, RAW_REJECTED, ML and SERVING in Snowflake
    (SNOWFLAKE_DATABASE)."""
    from warehouse.snowflake import ddl_statements

    for statement in ddl_statements(get_settings().snowflake_database):
        print(f"{statement};")
    return 0


def _snowflake_grants() -> int:
    """What an admin runs once so `recs_reader` reads SERVING and nothing else."""
    from warehouse.serving import READER_ROLE
    from warehouse.snowflake import reader_grants

    settings = get_settings()
    for statement in reader_grants(
        settings.snowflake_database, READER_ROLE.upper(), settings.snowflake_warehouse
    ):
        print(f"{statement};")
    return 0


def _snowflake_load() -> int:
    """Load a landed folder into Snowflake's RAW (snowflake-load <folder> <source> <date>)."""
    import datetime as dt
    from pathlib import Path

    from warehouse import snowflake

    folder, source, date = (sys.argv[2:5] + [None] * 3)[:3]
    if not (folder and source and date):
        print("usage: python -m warehouse snowflake-load <landing folder> <source> <YYYY-MM-DD>")
        return 2
    database = get_settings().snowflake_database
    with snowflake.connect_from_env() as conn:
        counts = snowflake.load_landed(
            conn.cursor(),
            database,
            Path(folder),
            source=source,
            logical_date=dt.date.fromisoformat(date),
        )
    for table, rows in counts.items():
        print(f"{database}.RAW.{table.upper()}: {rows:,} rows")
    return 0


COMMANDS = {
    "start": _start,
    "stop": _stop,
    "status": _status,
    "url": None,
    "env": _env,
    "psql": _psql,
    "report": _report,
    "snowflake-ddl": _snowflake_ddl,
    "snowflake-grants": _snowflake_grants,
    "snowflake-load": _snowflake_load,
}


def main() -> int:
    configure_logging()
    parser = argparse.ArgumentParser(prog="python -m warehouse", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS))
    args, _ = parser.parse_known_args()
    if args.command == "url":
        print(connections.redacted(connections.warehouse_url()))
        return 0
    command = COMMANDS[args.command]
    assert command is not None  # only "url" has none, answered above
    try:
        return command()
    except RuntimeError as error:  # configuration problems: the message says what to set
        print_failure(error)
        return 2
    except psycopg.Error as error:  # unreachable or unbuilt warehouse: say what to run
        print_failure(error)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
