"""Many concurrent clients against the published lists: `--load-clients` paced clients
(about one top-20 request every 2 s each) for `--load-seconds`, then the saturation
throughput of `--load-closed-clients` clients asking as fast as they can (a sixth of that
time, at most 10 s), through the API
(`python -m api`, its default worker processes) and as SQL clients through PgBouncer
(`python -m ops pooler`), each side started for the run on free ports and stopped after it.

The clients are bench/load.py, in a process of their own (its CPU use is reported: it
shares the machine's cores with the server). Without pgbouncer installed, the SQL rows are
left out with a note.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from bench.load import LoadRun
from config import subprocess_env
from warehouse.paths import PROJECT_ROOT
from warehouse.serving import READER_ROLE


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_reader(database_url: str, port: int | None = None) -> str:
    parts = urlsplit(database_url)
    return parts._replace(
        netloc=f"{READER_ROLE}@{parts.hostname}:{port or parts.port or 5432}"
    ).geturl()


def _clients(target: str, url: str, database_url: str, *args: str) -> LoadRun:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.load",
            target,
            "--url",
            url,
            "--users-from",
            database_url,
            *args,
        ],
        cwd=PROJECT_ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.load {target} failed:\n{done.stderr[-3000:]}")
    return LoadRun(**json.loads(done.stdout.strip().splitlines()[-1]))


def _both_modes(
    target: str, url: str, database_url: str, clients: int, seconds: float, closed: int
) -> list[LoadRun]:
    """The paced run, then `closed` clients as fast as they can for a sixth of its time (at
    most 10 s)."""
    paced = _clients(
        target, url, database_url, "--clients", str(clients), "--seconds", str(seconds)
    )
    saturated = _clients(
        target,
        url,
        database_url,
        "--clients",
        str(closed),
        "--seconds",
        str(min(10.0, seconds / 6)),
        "--closed",
    )
    return [paced, saturated]


def _api_runs(
    database_url: str, workdir: Path, clients: int, seconds: float, closed: int
) -> list[LoadRun]:
    port = _free_port()
    env = subprocess_env({"ENCORE_API_DATABASE_URL": _as_reader(database_url)})
    with open(workdir / "api.log", "ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "api", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start (log: {workdir / 'api.log'})")
            time.sleep(0.5)
        return _both_modes("api", url, database_url, clients, seconds, closed)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def _sql_runs(
    database_url: str, workdir: Path, clients: int, seconds: float, closed: int
) -> list[LoadRun]:
    port = _free_port()
    env = subprocess_env(
        {
            "WAREHOUSE_URL": database_url,
            "POOLER_PORT": str(port),
            "ENCORE_HOME": str(workdir / "pooler"),
        }
    )

    def ops(command: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "ops", command],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            check=True,
            timeout=120,
        )

    ops("pooler")
    try:
        url = _as_reader(database_url, port)
        return _both_modes("sql", url, database_url, clients, seconds, closed)
    finally:
        ops("stop")


def measure(
    database_url: str, workdir: Path, *, clients: int, seconds: float, closed: int
) -> tuple[list[LoadRun], list[str]]:
    """The API's and PgBouncer's paced and saturated runs; (runs, notes)."""
    runs = _api_runs(database_url, workdir, clients, seconds, closed)
    notes = []
    if shutil.which("pgbouncer", path="/usr/sbin:/usr/bin") is None:
        notes.append("pgbouncer is not installed (`make pgbouncer`): no SQL client rows")
    else:
        runs += _sql_runs(database_url, workdir, clients, seconds, closed)
    return runs, notes
