"""`make pooler`: PgBouncer in transaction mode in front of the warehouse, for SQL clients.

Many clients, few server connections: up to `MAX_CLIENTS` clients connect to 127.0.0.1:6432
(`POOLER_PORT`) as `recs_reader`, and share at most `SERVER_CONNECTIONS` connections to the
warehouse, each lent for one transaction. Only `recs_reader` is let in (it alone is in the
pooler's user list, and every server connection logs in as it), so the pooler reads
`serving` and nothing else. It uses Debian's `pgbouncer` (`apt-get install pgbouncer`; the
Makefile installs it where it can), runs detached like the other services (pid file and log
in `.encore/`), and, started as root, drops to the warehouse's service account.

Transaction pooling has one rule for clients: no session state across transactions, and no
server-side prepared statements (PgBouncer 1.18): psycopg `prepare_threshold=None`, JDBC
`prepareThreshold=0`. docs/serving.md#many-sql-clients-pgbouncer has the details.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from config import subprocess_env
from ops.services import (
    Service,
    ServiceError,
    default_state,
    port_in_use,
    spawn,
    stop_service,
    wait_until,
)
from warehouse.connections import warehouse_url
from warehouse.embedded import service_account
from warehouse.serving import READER_ROLE

DEFAULT_PORT = 6432
HOST = "127.0.0.1"
MAX_CLIENTS = 2000
SERVER_CONNECTIONS = 20


@dataclass(frozen=True)
class Pooler:
    url: str  # what a client connects to, as recs_reader
    pid: int
    log_file: Path
    reused: bool


def service(state: Path | None = None) -> Service:
    return Service("pgbouncer", state or default_state())


def find_pgbouncer() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/bin")
    if found is None:
        raise ServiceError(
            "pgbouncer is not installed: `apt-get install pgbouncer` (Debian/Ubuntu), "
            "or `make pooler` as root, which installs it"
        )
    return found


def _config(folder: Path, port: int, upstream: str) -> Path:
    """pgbouncer.ini and its user list in `folder`, for the warehouse at `upstream`."""
    parts = urlsplit(upstream)
    database = parts.path.lstrip("/") or "encore"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "userlist.txt").write_text(f'"{READER_ROLE}" ""\n')
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        "\n".join(
            [
                "[databases]",
                f"{database} = host={parts.hostname or HOST} port={parts.port or 5432} "
                f"dbname={database} user={READER_ROLE}",
                "",
                "[pgbouncer]",
                f"listen_addr = {HOST}",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",  # loopback only, as the embedded warehouse itself
                f"auth_file = {folder / 'userlist.txt'}",
                "pool_mode = transaction",
                f"max_client_conn = {MAX_CLIENTS}",
                f"default_pool_size = {SERVER_CONNECTIONS}",
                f"max_db_connections = {SERVER_CONNECTIONS}",
                "server_reset_query =",
                # psycopg and JDBC send these at connect; they cannot outlive a transaction
                "ignore_startup_parameters = extra_float_digits,options",
                "",
            ]
        )
    )
    if (account := service_account()) is not None:  # root: pgbouncer runs as that account
        for path in (folder, *folder.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
    return ini


def client_url(port: int, upstream: str) -> str:
    parts = urlsplit(upstream)
    return f"postgresql://{READER_ROLE}@{HOST}:{port}/{parts.path.lstrip('/') or 'encore'}"


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2, prepare_threshold=None) as conn:
            conn.execute("select 1")
        return True
    except psycopg.Error:
        return False


def start(
    port: int = DEFAULT_PORT, state: Path | None = None, upstream: str | None = None
) -> Pooler:
    """Start PgBouncer on 127.0.0.1:`port` in front of `upstream` (default: the warehouse),
    or reuse the one already running for the same warehouse and port."""
    svc = service(state)
    upstream = upstream or warehouse_url()
    url = client_url(port, upstream)
    if (pid := svc.pid()) is not None:
        info = svc.info()
        if info.get("url") == url and info.get("upstream") == _safe(upstream) and _answers(url):
            return Pooler(url=url, pid=pid, log_file=svc.log_file, reused=True)
        stop_service(svc)
    if port_in_use(port, HOST):
        raise ServiceError(f"port {port} is taken by another program: set POOLER_PORT")
    command = [find_pgbouncer(), str(_config(svc.state / "pgbouncer", port, upstream))]
    if (account := service_account()) is not None:
        command[1:1] = ["-u", account.pw_name]
    process = spawn(command, subprocess_env(), svc.log_file)
    svc.record(process.pid, {"url": url, "upstream": _safe(upstream), "port": port})
    try:
        wait_until(
            lambda: _answers(url),
            timeout=30,
            what="pgbouncer",
            alive=lambda: process.poll() is None,
            log_file=svc.log_file,
        )
    except ServiceError:
        stop_service(svc)
        raise
    return Pooler(url=url, pid=process.pid, log_file=svc.log_file, reused=False)


def _safe(url: str) -> str:
    """The URL without its password (it goes to a state file)."""
    parts = urlsplit(url)
    netloc = f"{parts.username or ''}@{parts.hostname}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()
