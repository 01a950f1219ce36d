"""The embedded PostgreSQL warehouse: a project-local cluster that needs nothing installed.

With no `WAREHOUSE_URL`, Encore runs its own PostgreSQL from `.encore/postgres/`, listening
only on 127.0.0.1. The binaries come from the `pgserver` wheel (locked in uv.lock, so every
machine gets the same server) or, where that wheel does not exist, from a system
PostgreSQL installation. `initdb` refuses to run as root, so as root the cluster belongs to a
dedicated system user (`encorepg`) and the server runs as that user.

The cluster outlives the process that started it: the next run reuses it, `stop()` ends it.
"""

from __future__ import annotations

import fcntl
import glob
import importlib.util
import logging
import os
import pwd
import shutil
import socket
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from config import get_settings, subprocess_env
from warehouse.paths import state_dir

log = logging.getLogger(__name__)

DEFAULT_PORT = 55432
SUPERUSER = "encore"
DATABASE = "encore"
SERVICE_USER = "encorepg"

# Sized for a 2-core, 24 GiB machine running batch ELT, not OLTP. Durability stays on
# (fsync) because a warehouse people query is not a scratch database.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "200",
    "shared_buffers": "'1GB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "effective_cache_size": "'8GB'",
    "max_wal_size": "'4GB'",
    "synchronous_commit": "off",
    "max_parallel_workers_per_gather": "2",
    "random_page_cost": "1.1",
    "jit": "off",
    "log_min_duration_statement": "'5s'",
    "timezone": "'UTC'",
}


class WarehouseError(RuntimeError):
    """The embedded warehouse could not be started or reached; the message says what to do."""


@dataclass(frozen=True)
class EmbeddedServer:
    bin_dir: Path
    data_dir: Path
    log_file: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"


def _configured_port(data_dir: Path) -> int | None:
    """The port an existing cluster was given at initdb time (last `port =` line wins)."""
    conf = data_dir / "postgresql.conf"
    if not conf.exists():
        return None
    ports = [
        line.split("=", 1)[1].split("#")[0].strip()
        for line in conf.read_text().splitlines()
        if line.strip().startswith("port") and "=" in line
    ]
    return int(ports[-1]) if ports else None


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def embedded_port(data_dir: Path) -> int:
    """`ENCORE_PG_PORT`, else the port the cluster was created with, else the first free one
    from 55432 up: two clones on one machine each get their own warehouse."""
    if (override := get_settings().encore_pg_port) is not None:
        return override
    if (configured := _configured_port(data_dir)) is not None:
        return configured
    return next(
        (port for port in range(DEFAULT_PORT, DEFAULT_PORT + 100) if _port_is_free(port)),
        DEFAULT_PORT,
    )


def find_bin_dir() -> Path:
    """PostgreSQL's bin folder: the pgserver wheel's first, then a system installation."""
    spec = importlib.util.find_spec("pgserver")
    if spec and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (bundled / "initdb").exists():
            return bundled
    candidates = []
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise WarehouseError(
        "No PostgreSQL server binaries found. Run `make setup` (installs the pgserver wheel), "
        "install PostgreSQL (e.g. `apt-get install postgresql`), or set WAREHOUSE_URL to an "
        "existing server."
    )


def server(root: Path | None = None, port: int | None = None) -> EmbeddedServer:
    """The project's cluster (`.encore/postgres/`), or another one in `root` (a test's
    private server, on `port`)."""
    root = root or state_dir() / "postgres"
    return EmbeddedServer(
        bin_dir=find_bin_dir(),
        data_dir=root / "data",
        log_file=root / "postgres.log",
        port=port or embedded_port(root / "data"),
    )


def service_account() -> pwd.struct_passwd | None:
    """The account the server runs as: None (the caller) unless the caller is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        log.info(
            "created system user %s to run the embedded PostgreSQL (initdb refuses root)",
            SERVICE_USER,
        )
        return pwd.getpwnam(SERVICE_USER)


def _make_traversable(path: Path) -> None:
    """Let the service account reach `path`: add o+x to every ancestor that lacks it."""
    for ancestor in [path, *path.parents]:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(mode | stat.S_IXOTH)


def _runner(account: pwd.struct_passwd | None) -> Callable[[], None] | None:
    if account is None:
        return None

    def drop_privileges() -> None:
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)

    return drop_privileges


def _run(
    srv: EmbeddedServer, args: list[str], *, check: bool = True
) -> subprocess.CompletedProcess:
    account = service_account()
    env = subprocess_env({"LC_ALL": "C", "LANG": "C"})
    if account is not None:
        env["HOME"] = str(srv.data_dir.parent)
    return subprocess.run(
        [str(srv.bin_dir / args[0]), *args[1:]],
        preexec_fn=_runner(account),  # drops root for initdb/pg_ctl
        env=env,
        capture_output=True,
        text=True,
        check=check,
    )


@contextmanager
def _lock() -> Iterator[None]:
    """Serialize start/stop across processes (parallel Airflow tasks, test workers)."""
    lock_path = state_dir() / "postgres.lock"
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_running(srv: EmbeddedServer | None = None) -> bool:
    srv = srv or server()
    if not (srv.data_dir / "PG_VERSION").exists():
        return False
    return _run(srv, ["pg_ctl", "-D", str(srv.data_dir), "status"], check=False).returncode == 0


def _initdb(srv: EmbeddedServer) -> None:
    account = service_account()
    srv.data_dir.parent.mkdir(parents=True, exist_ok=True)
    srv.data_dir.mkdir(mode=0o700, exist_ok=True)
    if account is not None:
        _make_traversable(srv.bin_dir)
        _make_traversable(srv.data_dir.parent)
        for path in (srv.data_dir.parent, srv.data_dir):
            os.chown(path, account.pw_uid, account.pw_gid)
    result = _run(
        srv,
        [
            "initdb",
            "-D",
            str(srv.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ],
        check=False,
    )
    if result.returncode != 0:
        raise WarehouseError(f"initdb failed:\n{result.stderr.strip()}")
    settings = "\n".join(f"{key} = {value}" for key, value in SERVER_SETTINGS.items())
    with (srv.data_dir / "postgresql.conf").open("a") as conf:
        conf.write(f"\n# Encore embedded warehouse\nport = {srv.port}\n{settings}\n")


def start(srv: EmbeddedServer | None = None) -> EmbeddedServer:
    """Start the embedded cluster (default: the project's), or reuse it if it is already
    running. Idempotent."""
    srv = srv or server()
    with _lock():
        if not (srv.data_dir / "PG_VERSION").exists():
            log.info("initializing the embedded warehouse in %s", srv.data_dir)
            _initdb(srv)
        if not is_running(srv):
            if srv.log_file.exists() and os.geteuid() == 0:
                account = service_account()
                assert account is not None
                os.chown(srv.log_file, account.pw_uid, account.pw_gid)
            result = _run(
                srv,
                [
                    "pg_ctl",
                    "-D",
                    str(srv.data_dir),
                    "-l",
                    str(srv.log_file),
                    "-o",
                    f"-p {srv.port}",
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                check=False,
            )
            if result.returncode != 0:
                tail = srv.log_file.read_text()[-2000:] if srv.log_file.exists() else ""
                raise WarehouseError(
                    f"PostgreSQL did not start on 127.0.0.1:{srv.port} "
                    f"(is the port taken? set ENCORE_PG_PORT).\n{result.stderr.strip()}\n{tail}"
                )
            log.info("embedded warehouse started on 127.0.0.1:%s", srv.port)
        _ensure_database(srv)
    return srv


def _ensure_database(srv: EmbeddedServer) -> None:
    import psycopg

    admin_url = f"postgresql://{SUPERUSER}@127.0.0.1:{srv.port}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [DATABASE]).fetchone()
        if not exists:
            conn.execute(f'create database "{DATABASE}"')


def stop(srv: EmbeddedServer | None = None) -> bool:
    """Stop the embedded cluster (default: the project's) if it runs. Returns whether it was
    running."""
    srv = srv or server()
    with _lock():
        if not is_running(srv):
            return False
        _run(srv, ["pg_ctl", "-D", str(srv.data_dir), "-m", "fast", "-w", "stop"])
        return True
