"""`python -m ops airflow|docs|pooler|stop|status`: start (or reuse), stop and list the local
services (ops.airflow_server, ops.docs_site, ops.pooler); the Makefile's `airflow`, `docs`,
`pooler` and `stop`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from config import get_settings
from ops import airflow_server, docs_site, pooler
from ops.services import ServiceError, stop_service


def _airflow() -> int:
    port = get_settings().airflow_port
    server = airflow_server.start(port=port)
    print(
        f"Airflow UI: {server.url}  ({'reused' if server.reused else 'started'}, "
        f"pid {server.pid}, log {server.log_file})"
    )
    print(f"login: user 'admin', password in {server.password_file}")
    print("stop it with `make stop`")
    return 0


def _docs() -> int:
    port = get_settings().docs_port
    site = docs_site.generate_and_serve(port=port)
    print(
        f"dbt docs: {site.url}  (lineage graph: {site.url}#!/overview?g_v=1; "
        f"pid {site.pid}, log {site.log_file})"
    )
    print("stop it with `make stop`")
    return 0


def _pooler() -> int:
    server = pooler.start(port=get_settings().pooler_port)
    print(
        f"PgBouncer for SQL clients: {server.url}  ({'reused' if server.reused else 'started'}, "
        f"pid {server.pid}, log {server.log_file})"
    )
    print("transaction pooling: psycopg clients pass prepare_threshold=None (docs/serving.md)")
    print("stop it with `make stop`")
    return 0


SERVICES = (
    ("Airflow", airflow_server.service),
    ("dbt docs", docs_site.service),
    ("PgBouncer", pooler.service),
)


def _stop() -> int:
    for name, service in SERVICES:
        print(f"{name} stopped" if stop_service(service()) else f"{name} not running")
    return 0


def _status() -> int:
    running = 0
    for service in (make() for _, make in SERVICES):
        pid = service.pid()
        url = service.info().get("url", "")
        print(f"{service.name}: " + (f"running, pid {pid}, {url}" if pid else "stopped"))
        running += pid is not None
    return 0 if running else 3


COMMANDS = {
    "airflow": _airflow,
    "docs": _docs,
    "pooler": _pooler,
    "stop": _stop,
    "status": _status,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command]()
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
