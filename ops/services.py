"""Background services people start by hand (`make airflow`, `make docs`) and `make stop` ends.

Each service runs detached in a process group of its own, with a pid file and a log in
`.encore/`, so the command that started it can exit and the next one can find, reuse or stop
it. Stopping works on the whole group and on every descendant seen on the way: Airflow's
standalone spawns a scheduler, an API server, a DAG processor and a triggerer, and the task
supervisors put each task in a group of its own, so killing the leader alone would leave them.

`python -m ops.services airflow|docs|stop|status` is the command line the Makefile calls.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from config import get_settings
from warehouse.paths import state_dir

# Debian's chromium (`make browser`), driven through the `playwright` package; never the
# browsers `playwright install` downloads. Flags keep it offline, quiet and sandbox-free
# (it runs as root in containers).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


class ServiceError(RuntimeError):
    """A service did not start or answer; the message says where its log is."""


@dataclass(frozen=True)
class Service:
    """Where one service keeps its pid, its log and what it serves (`<state>/<name>.*`)."""

    name: str
    state: Path

    @property
    def pid_file(self) -> Path:
        return self.state / f"{self.name}.pid"

    @property
    def info_file(self) -> Path:
        return self.state / f"{self.name}.json"

    @property
    def log_file(self) -> Path:
        return self.state / f"{self.name}.log"

    def pid(self) -> int | None:
        """The group leader's pid if the recorded group still has live members."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if group_members(pid) else None

    def info(self) -> dict:
        try:
            return json.loads(self.info_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def record(self, pid: int, info: Mapping[str, object]) -> None:
        self.pid_file.write_text(f"{pid}\n")
        self.info_file.write_text(json.dumps({"pid": pid, **info}, indent=2) + "\n")

    def forget(self) -> None:
        self.pid_file.unlink(missing_ok=True)
        self.info_file.unlink(missing_ok=True)


def default_state() -> Path:
    return state_dir()


# --- processes ---------------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, int, str, int] | None:
    """(ppid, pgrp, state, start time) of a process from /proc, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rfind(")") + 2:].split()  # the command name may contain spaces
    return int(fields[1]), int(fields[2]), fields[0], int(fields[19])


def _processes() -> dict[int, tuple[int, int, str, int]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[2] != "Z":
            table[int(entry.name)] = stat
    return table


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group: zombies hold no resources and would
    otherwise keep a group 'alive' where nothing reaps them."""
    return [pid for pid, (_, pgrp, _, _) in _processes().items() if pgrp == pgid]


def descendants(pid: int) -> set[tuple[int, int]]:
    """(pid, start time) of every live descendant of `pid`, whatever its process group."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for child, (ppid, _, _, _) in table.items():
        children.setdefault(ppid, []).append(child)
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add((child, table[child][3]))
            stack.append(child)
    return found


def _alive(process: tuple[int, int]) -> bool:
    """The same process (pid and start time: pids get reused) is still running."""
    stat = _stat(process[0])
    return stat is not None and stat[2] != "Z" and stat[3] == process[1]


def leftovers(pgid: int, seen: set[tuple[int, int]]) -> list[int]:
    """Processes of a stopped service still running: its group, or descendants seen before."""
    return sorted(set(group_members(pgid)) | {pid for pid, start in seen if _alive((pid, start))})


def spawn(command: Sequence[str], env: Mapping[str, str], log_file: Path,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start `command` detached: its own session and process group, output to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        return subprocess.Popen(list(command), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_group(pgid: int, timeout: float = 60.0) -> list[int]:
    """SIGTERM the process group `pgid`, then SIGKILL what is left after `timeout` seconds
    (the group and every descendant seen meanwhile). Returns the pids still alive (none)."""
    seen = descendants(pgid)
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pgid)
        seen |= descendants(pgid)
        if not leftovers(pgid, seen):
            return []
        time.sleep(0.5)
    for pid in leftovers(pgid, seen):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    _signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and leftovers(pgid, seen):
        _reap(pgid)
        time.sleep(0.2)
    _reap(pgid)
    return leftovers(pgid, seen)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _reap(pid: int) -> None:
    """Collect the leader's exit status when it is our child (the tests' case)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_service(service: Service, timeout: float = 60.0) -> bool:
    """Stop a service if it runs; True if something was stopped. Safe to call twice."""
    pid = service.pid()
    if pid is None:
        service.forget()
        return False
    left = stop_group(pid, timeout)
    if left:
        raise ServiceError(f"{service.name}: processes {left} survived SIGKILL")
    service.forget()
    return True


# --- ports and HTTP ----------------------------------------------------------------------

def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, token: str | None = None, timeout: float = 10.0) -> tuple[int, object]:
    """GET `url` -> (status, parsed JSON or None); status 0 when nothing answers."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        return error.code, None
    except (urllib.error.URLError, OSError):
        return 0, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def wait_until(ready: Callable[[], bool], *, timeout: float, what: str,
               alive: Callable[[], bool] = lambda: True, log_file: Path | None = None) -> None:
    """Poll `ready` every second until it holds; fail early if the process died."""
    deadline = time.monotonic() + timeout
    where = f" (log: {log_file})" if log_file else ""
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive():
            raise ServiceError(f"{what} exited before it was ready{where}")
        time.sleep(1)
    raise ServiceError(f"{what} not ready after {timeout:.0f} s{where}")


# --- command line ------------------------------------------------------------------------

def _airflow() -> int:
    from ops import airflow_server

    port = get_settings().airflow_port
    server = airflow_server.start(port=port)
    print(f"Airflow UI: {server.url}  ({'reused' if server.reused else 'started'}, "
          f"pid {server.pid}, log {server.log_file})")
    print(f"login: user 'admin', password in {server.password_file}")
    print("stop it with `make stop`")
    return 0


def _docs() -> int:
    from ops import docs_site

    port = get_settings().docs_port
    site = docs_site.generate_and_serve(port=port)
    print(f"dbt docs: {site.url}  (lineage graph: {site.url}#!/overview?g_v=1; "
          f"pid {site.pid}, log {site.log_file})")
    print("stop it with `make stop`")
    return 0


def _stop() -> int:
    from ops import airflow_server, docs_site

    for name, service in (("Airflow", airflow_server.service()), ("dbt docs", docs_site.service())):
        print(f"{name} stopped" if stop_service(service) else f"{name} not running")
    return 0


def _status() -> int:
    from ops import airflow_server, docs_site

    running = 0
    for service in (airflow_server.service(), docs_site.service()):
        pid = service.pid()
        url = service.info().get("url", "")
        print(f"{service.name}: " + (f"running, pid {pid}, {url}" if pid else "stopped"))
        running += pid is not None
    return 0 if running else 3


COMMANDS = {"airflow": _airflow, "docs": _docs, "stop": _stop, "status": _status}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.services", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command]()
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def bin_path(name: str) -> str:
    """A console script of this environment (`airflow`, `dbt`), found next to the interpreter
    so the service runs the locked versions even when PATH does not list the venv."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def child_env(base: Mapping[str, str], **overrides: str) -> dict[str, str]:
    """`base` plus overrides, with this environment's bin/ first on PATH: standalone starts
    its components as plain `airflow ...` commands."""
    env = {**base, **overrides}
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    return env


@contextlib.contextmanager
def chromium_page(profile_dir: Path, viewport: tuple[int, int] = (1600, 1000)) -> Iterator:
    """A Playwright page in Debian's headless chromium with a fresh profile in `profile_dir`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


if __name__ == "__main__":
    raise SystemExit(main())
