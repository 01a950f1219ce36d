"""Background services people start by hand (`make airflow`, `make docs`) and `make stop` ends.

Each service runs detached in a process group of its own, with a pid file and a log in
`.encore/`, so the command that started it can exit and the next one can find, reuse or stop
it. Stopping works on the whole group and on every descendant seen on the way: Airflow's
standalone spawns a scheduler, an API server, a DAG processor and a triggerer, and the task
supervisors put each task in a group of its own, so killing the leader alone would leave them.

`python -m ops airflow|docs|stop|status` (ops/__main__.py) is the command line the Makefile
calls.
"""

from __future__ import annotations

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from warehouse.paths import state_dir


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


def _group(process: psutil.Process) -> int | None:
    """The process group of a live (non-zombie) process, None when it is gone or a zombie:
    zombies hold no resources and would otherwise keep a group 'alive' where nothing reaps
    them."""
    try:
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return os.getpgid(process.pid)
    except (psutil.Error, ProcessLookupError, PermissionError):
        return None


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group."""
    return [process.pid for process in psutil.process_iter() if _group(process) == pgid]


def descendants(pid: int) -> set[tuple[int, float]]:
    """(pid, start time) of every live descendant of `pid`, whatever its process group."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return set()
    found = set()
    for child in children:
        with contextlib.suppress(psutil.Error):
            found.add((child.pid, child.create_time()))
    return found


def _alive(process: tuple[int, float]) -> bool:
    """The same process (pid and start time: pids get reused) is still running."""
    try:
        running = psutil.Process(process[0])
        return running.create_time() == process[1] and _group(running) is not None
    except psutil.Error:
        return False


def leftovers(pgid: int, seen: set[tuple[int, float]]) -> list[int]:
    """Processes of a stopped service still running: its group, or descendants seen before."""
    return sorted(set(group_members(pgid)) | {pid for pid, start in seen if _alive((pid, start))})


def spawn(
    command: Sequence[str], env: Mapping[str, str], log_file: Path, cwd: Path | None = None
) -> subprocess.Popen:
    """Start `command` detached: its own session and process group, output to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


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


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], bool] = lambda: True,
    log_file: Path | None = None,
) -> None:
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


# --- child processes ------------------------------------------------------------------


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
