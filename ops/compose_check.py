"""`make compose-check`: docker-compose.yml started for real, the nightly job run through it.

What it proves, in order (each step timed, the table printed at the end, pass or fail):

1. tools: dockerd, docker-compose and debootstrap are there, or installed from Debian's
   packages (root and apt-get); otherwise it says what is missing and exits 2;
2. engine: a Docker engine answers, or `dockerd` is started here (stopped again at the end);
   an engine that cannot start (a sandbox without the rights) exits 3, an environment problem;
3. images: with a reachable registry, `docker-compose build` and the official images; without
   one (this machine), the offline path: a Debian bookworm base made with debootstrap (once;
   the image is reused), then docker/offline/*.Dockerfile with BuildKit and the machine's CA
   bundle as a build secret, used through docker/compose.offline.yml;
4. up: the stack as `encore-check` with `--scale airflow-worker=2`, throwaway secrets in this
   process's environment only (never printed, never written), host ports picked free, an
   empty env file so a developer's .env stays out; every container must become healthy
   (airflow-init: exit 0);
5. dags: through Airflow's REST API (token from /auth/token), encore_ingest is triggered on a
   small synthetic world, for the date the scheduler would run next, and the chain runs the
   way it does at night: its RAW asset starts encore_transform, whose MARTS asset starts
   encore_recommend (the scheduled run that unpausing creates for encore_recommend's nightly
   time is marked failed, as in tests/integration/test_airflow_ui.py); a failed run prints
   the end of each failed task's log;
6. workers: every task instance that ran has a worker container's hostname, and both took some;
7. published / pooler / api / docs: serving.recommendations has rows (psql in the warehouse
   container), recs_reader reads them through the pgbouncer service's published port, the API
   serves /health and a listener's list, the dbt docs site answers;
8. down: `down -v` leaves no container, volume or network of the project behind.

Exit codes: 0 passed, 1 the stack failed, 2 a tool is missing, 3 the environment cannot run
containers. `make` turns any of them into its own 2, so the outcome is also written to
.encore/compose/outcome (`passed`, `failed: ...`, `missing: ...`, `environment: ...`):
`.ci/run` skips on the last two with the reason and fails on `failed`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from config import subprocess_env
from ops.airflow_api import AirflowApi, AirflowApiError

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".encore" / "compose"
COMPOSE_FILE = ROOT / "docker-compose.yml"
OFFLINE_FILE = ROOT / "docker" / "compose.offline.yml"
PROJECT = "encore-check"
OUTCOME = STATE / "outcome"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_IMAGE = "encore-offline/base:bookworm"
# The Debian packages of the offline base: Python for the Encore image and pgserver, LightGBM's
# OpenMP runtime and PgBouncer (what the Dockerfile apt-installs), Redis for the redis service.
BASE_PACKAGES = (
    "python3",
    "python3-venv",
    "ca-certificates",
    "libgomp1",
    "pgbouncer",
    "redis-server",
)
OFFLINE_IMAGES = {  # image -> Dockerfile (context: the project root)
    "encore-offline/postgres:16": "docker/offline/postgres.Dockerfile",
    "encore-offline/redis:7": "docker/offline/redis.Dockerfile",
}
# Debian package -> the file it provides that this check needs
TOOLS = {
    "docker.io": "/usr/sbin/dockerd",
    "docker-compose": "/usr/bin/docker-compose",
    "debootstrap": "/usr/sbin/debootstrap",
    "tini": "/usr/bin/docker-init",  # `init: true` in docker-compose.yml
}
CHAIN = ("encore_ingest", "encore_transform", "encore_recommend")
FAILED = {"failed", "upstream_failed"}  # task instance states a failed run is reported by
# The synthetic world: a few hundred listeners, so the chain takes minutes on 2 cores.
DEFAULT_CONF = {"users": 300, "tracks": 2000, "days": 120, "seed": 17}
SECRET_NAMES = (
    "ENCORE_WAREHOUSE_PASSWORD",
    "ENCORE_READER_PASSWORD",
    "ENCORE_AIRFLOW_DB_PASSWORD",
    "ENCORE_AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
)
PORT_NAMES = (
    "AIRFLOW_PORT",
    "ENCORE_API_PORT",
    "DOCS_PORT",
    "ENCORE_WAREHOUSE_PORT",
    "POOLER_PORT",
)
EXIT_FAILED, EXIT_MISSING, EXIT_ENVIRONMENT = 1, 2, 3

T = TypeVar("T")


class CheckFailed(RuntimeError):
    """The stack did something wrong: the check fails (exit 1)."""


class Missing(RuntimeError):
    """A tool is missing and cannot be installed here (exit 2)."""


class Environment(RuntimeError):
    """This machine cannot run containers at all (exit 3): nothing about the stack is known."""


@dataclass
class Steps:
    """Each step's name, seconds and one-line result, for the table at the end."""

    rows: list[tuple[str, float, str]] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        note: list[str] = []
        print(f"--- {name}", flush=True)
        start = time.monotonic()
        try:
            yield note
        except BaseException as error:
            self.rows.append((name, time.monotonic() - start, f"FAILED: {error}"[:200]))
            raise
        self.rows.append((name, time.monotonic() - start, " ".join(note)))

    def table(self) -> str:
        width = max([len(name) for name, _, _ in self.rows] + [4])
        lines = [f"{'step':<{width}}  {'seconds':>8}  result"]
        lines += [f"{name:<{width}}  {secs:8.1f}  {note}" for name, secs, note in self.rows]
        lines.append(f"{'total':<{width}}  {sum(s for _, s, _ in self.rows):8.1f}")
        return "\n".join(lines)


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 1800,
    log: Path | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; its output goes to `log` when given (else it is captured)."""
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            out.write(f"\n$ {' '.join(args)}\n")
            out.flush()
            result = subprocess.run(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                timeout=timeout,
                input=input_text,
                check=False,
            )
    else:
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            input=input_text,
            check=False,
        )
    if check and result.returncode != 0:
        where = f"see {log}" if log else (result.stderr or result.stdout)[-2000:]
        raise CheckFailed(f"{' '.join(args[:4])} ... exited {result.returncode}: {where}")
    return result


def poll(check: Callable[[], T | None], *, timeout: float, what: str, every: float = 3.0) -> T:
    """`check()` until it returns something, or CheckFailed after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if (result := check()) is not None:
            return result
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: not after {timeout:.0f} s")
        time.sleep(every)


# ----------------------------------------------------------------------------- tools, engine


def ensure_tools(note: list[str]) -> None:
    """Debian's packages for what is missing (root + apt-get), else Missing naming them."""
    missing = [package for package, path in TOOLS.items() if not Path(path).exists()]
    if not missing:
        note.append("all present")
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Missing(
            f"missing {', '.join(TOOLS[p] for p in missing)} (Debian packages: "
            f"{' '.join(missing)}); installing them needs root and apt-get"
        )
    env = subprocess_env({"DEBIAN_FRONTEND": "noninteractive"})
    log = STATE / "apt.log"
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if run(install, env=env, check=False, log=log).returncode != 0:
        run(["apt-get", "update"], env=env, check=False, log=log)
        if run(install, env=env, check=False, log=log).returncode != 0:
            raise Environment(f"apt-get could not install {' '.join(missing)} (see {log})")
    note.append(f"installed {' '.join(missing)}")


def docker_cli() -> str:
    """Debian's docker CLI (20.10: BuildKit built in) before a newer one on PATH, which would
    need the buildx plugin for `--secret`."""
    debian = Path("/usr/bin/docker")
    found = str(debian) if debian.exists() else shutil.which("docker")
    if found is None:
        raise Missing("no docker CLI (Debian package docker.io)")
    return found


@dataclass
class Engine:
    """The Docker engine in use, and the dockerd this check started (if it did)."""

    docker: str
    started: subprocess.Popen[bytes] | None = None

    def answers(self) -> bool:
        result = run(
            [self.docker, "info", "--format", "{{.ServerVersion}}"], check=False, timeout=30
        )
        return result.returncode == 0

    def stop(self) -> None:
        if self.started is not None and self.started.poll() is None:
            self.started.terminate()
            try:
                self.started.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.started.kill()
                self.started.wait()


def start_engine(note: list[str]) -> Engine:
    engine = Engine(docker_cli())
    if engine.answers():
        note.append("reused the running engine")
        return engine
    if os.geteuid() != 0:
        raise Missing("no Docker engine answers and starting dockerd needs root")
    log = STATE / "dockerd.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        engine.started = subprocess.Popen(
            ["dockerd"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 90
    while not engine.answers():
        if engine.started.poll() is not None or time.monotonic() > deadline:
            engine.stop()
            tail = log.read_text(errors="replace").splitlines()[-5:]
            raise Environment("dockerd did not start here: " + " | ".join(tail))
        time.sleep(1)
    note.append(f"started dockerd (pid {engine.started.pid}, log {log.relative_to(ROOT)})")
    return engine


def registry_reachable(timeout: float = 5.0) -> bool:
    """Docker Hub's registry answers (any HTTP status, 401 included, counts)."""
    try:
        urllib.request.urlopen("https://registry-1.docker.io/v2/", timeout=timeout).close()
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True


# ------------------------------------------------------------------------------------ images


def image_exists(docker: str, image: str) -> bool:
    return run([docker, "image", "inspect", image], check=False).returncode == 0


def debian_mirror() -> str:
    """The machine's Debian mirror (apt's sources), else deb.debian.org."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                words = line.split()
                if words[:1] == ["deb"] and len(words) > 2 and "bookworm" in words[2:4]:
                    url = words[1] if not words[1].startswith("[") else words[2]
                    if "security" not in url:
                        return url
                if words[:1] == ["URIs:"] and len(words) > 1 and "security" not in words[1]:
                    text = path.read_text()
                    if "bookworm" in text and "/debian" in words[1]:
                        return words[1]
    return "http://deb.debian.org/debian"


def probe_containers(docker: str, note: list[str]) -> None:
    """A container of the base starts and reaches PyPI (the CA bundle mounted, as the builds
    get it). Either failing is the machine's doing, not the stack's: Environment (a skip)."""
    mount = ["-v", f"{CA_BUNDLE}:/probe/ca.crt:ro"] if CA_BUNDLE.exists() else []
    cafile = "'/probe/ca.crt'" if mount else "None"
    script = (
        "import urllib.request, ssl; "
        f"ctx = ssl.create_default_context(cafile={cafile}); "
        "urllib.request.urlopen('https://pypi.org/simple/uv/', timeout=20, context=ctx).close()"
    )
    result = run([docker, "run", "--rm", *mount, BASE_IMAGE, "python3", "-c", script], check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise Environment(f"a container cannot run here or cannot reach PyPI: {detail[0]}")
    note.append("a container reached PyPI")


def build_base(docker: str, note: list[str]) -> None:
    """The bookworm base image: debootstrap (about 50 s), then `docker import` (once)."""
    if image_exists(docker, BASE_IMAGE):
        note.append(f"{BASE_IMAGE} reused")
        return
    rootfs = STATE / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    mirror = debian_mirror()
    log = STATE / "debootstrap.log"
    result = run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            "bookworm",
            str(rootfs),
            mirror,
        ],
        check=False,
        log=log,
    )
    if result.returncode != 0:
        raise Environment(f"debootstrap from {mirror} failed (see {log})")
    for cache in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        cache.unlink()
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        [docker, "import", "-", BASE_IMAGE],
        stdin=tar.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    tar.wait()
    shutil.rmtree(rootfs, ignore_errors=True)
    if imported.returncode != 0 or tar.returncode != 0:
        raise CheckFailed(f"docker import of the base failed: {imported.stderr[-500:]}")
    note.append(f"{BASE_IMAGE} from debootstrap ({mirror})")


def build_offline(docker: str, image: str, note: list[str]) -> None:
    """docker/offline/*: BuildKit, the base as build arg, the CA bundle as secret `ca_bundle`."""
    builds = {**OFFLINE_IMAGES, image: "docker/offline/Dockerfile"}
    env = subprocess_env({"DOCKER_BUILDKIT": "1"})
    for tag, dockerfile in builds.items():
        secret = [f"--secret=id=ca_bundle,src={CA_BUNDLE}"] if CA_BUNDLE.exists() else []
        run(
            [
                docker,
                "build",
                "--progress=plain",
                *secret,
                f"--build-arg=ENCORE_OFFLINE_BASE={BASE_IMAGE}",
                "-f",
                dockerfile,
                "-t",
                tag,
                ".",
            ],
            env=env,
            log=STATE / "build.log",
        )
    note.append(", ".join(builds))


# ------------------------------------------------------------------------------------- stack


@dataclass
class Stack:
    """The compose project this check starts: its files, environment and published ports."""

    files: list[Path]
    env: dict[str, str]
    env_file: Path

    def compose(self, *args: str, log: Path | None = None, check: bool = True) -> str:
        command = ["docker-compose", "--env-file", str(self.env_file), "-p", PROJECT]
        for file in self.files:
            command += ["-f", str(file)]
        result = run([*command, *args], env=self.env, log=log, check=check, timeout=1800)
        return result.stdout if log is None else ""

    def port(self, name: str) -> int:
        return int(self.env[name])

    def secret(self, name: str) -> str:
        return self.env[name]


def throwaway_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The process environment plus generated secrets and free loopback ports."""
    from ops.services import free_port

    env = dict(base)
    for name in SECRET_NAMES:
        env[name] = secrets.token_urlsafe(24)
    env["AIRFLOW__CORE__FERNET_KEY"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    env["ENCORE_AIRFLOW_ADMIN_USER"] = "admin"
    ports: set[int] = set()
    for name in PORT_NAMES:
        port = free_port()
        while port in ports:
            port = free_port()
        ports.add(port)
        env[name] = str(port)
    env.pop("COMPOSE_PROJECT_NAME", None)
    return env


def containers(docker: str) -> list[dict[str, Any]]:
    """`docker inspect` of every container of the project."""
    ids = run(
        [docker, "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"]
    ).stdout.split()
    if not ids:
        return []
    return json.loads(run([docker, "inspect", *ids]).stdout)


def service_of(container: Mapping[str, Any]) -> str:
    return container["Config"]["Labels"]["com.docker.compose.service"]


def wait_healthy(
    docker: str, expected: int, timeout: float, note: list[str]
) -> list[dict[str, Any]]:
    """Every container healthy (airflow-init exited 0); an exited or unhealthy one fails."""

    def state() -> list[dict[str, Any]] | None:
        found = containers(docker)
        waiting = []
        for c in found:
            name, status = c["Name"].lstrip("/"), c["State"]
            if service_of(c) == "airflow-init":
                if status["Status"] == "exited" and status["ExitCode"] != 0:
                    raise CheckFailed(f"{name} exited {status['ExitCode']}: {logs(docker, name)}")
                if status["Status"] != "exited":
                    waiting.append(name)
                continue
            health = (status.get("Health") or {}).get("Status")
            restarts = c.get("RestartCount") or 0
            if status["Status"] != "running" or restarts:
                raise CheckFailed(
                    f"{name} is {status['Status']}, restarted {restarts} times: "
                    f"{logs(docker, name)}"
                )
            if health == "unhealthy":
                raise CheckFailed(f"{name} is unhealthy: {logs(docker, name)}")
            if health != "healthy":
                waiting.append(name)
        return found if len(found) >= expected and not waiting else None

    found = poll(state, timeout=timeout, what="every container healthy", every=5)
    note.append(f"{len(found)} containers")
    return found


def logs(docker: str, name: str, lines: int = 25) -> str:
    out = run([docker, "logs", "--tail", str(lines), name], check=False)
    return "\n" + (out.stdout + out.stderr)[-4000:]


# ---------------------------------------------------------------------------------- airflow


def run_chain(
    api: AirflowApi, conf: Mapping[str, Any], timeout: float, note: list[str]
) -> dict[str, dict[str, Any]]:
    """Trigger encore_ingest, unpause the three, wait until the asset-triggered
    encore_recommend run succeeds; returns the chain's run of each DAG."""

    def parsed(dag_id: str) -> Callable[[], bool | None]:
        return lambda: api.has_dag(dag_id) or None

    for dag_id in CHAIN:  # the dag-processor has to have parsed them
        poll(parsed(dag_id), timeout=300, what=f"DAG {dag_id} parsed")
    triggered = api.trigger_next(CHAIN[0], conf, note="make compose-check")
    for dag_id in reversed(CHAIN):
        api.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    stopped: set[str] = set()  # scheduled runs (full-size default params) marked failed

    def chain() -> dict[str, dict[str, Any]] | None:
        found: dict[str, dict[str, Any]] = {}
        for dag_id in CHAIN:
            for run_ in api.runs(dag_id):
                if run_["run_type"] == "scheduled":
                    if run_["state"] not in {"success", "failed"}:
                        stopped.add(f"{dag_id} {run_['dag_run_id']}")
                        with contextlib.suppress(AirflowApiError):
                            api.call(
                                "PATCH",
                                api.run_path(dag_id, run_["dag_run_id"]),
                                {"state": "failed"},
                            )
                    continue
                if run_["state"] == "failed":
                    tis = api.task_instances(dag_id, run_["dag_run_id"])
                    for ti in tis:  # CI keeps this output, not the stack's log files
                        if ti["state"] == "failed":
                            with contextlib.suppress(AirflowApiError):
                                print(
                                    f"--- the log of {dag_id}.{ti['task_id']} "
                                    f"(try {ti['try_number']}), its end:\n{api.log_tail(ti)}",
                                    file=sys.stderr,
                                )
                    failed = [ti["task_id"] for ti in tis if ti["state"] in FAILED]
                    raise CheckFailed(f"{dag_id} run {run_['dag_run_id']} failed: {failed}")
                if run_["state"] == "success" and (
                    run_["dag_run_id"] == triggered["dag_run_id"]
                    or run_["run_type"] == "asset_triggered"
                ):
                    found.setdefault(dag_id, run_)
        return found if len(found) == len(CHAIN) else None

    try:
        runs = poll(chain, timeout=timeout, what="the chain's encore_recommend run", every=10)
    finally:
        for dag_id in CHAIN:
            with contextlib.suppress(Exception):
                api.call("PATCH", f"/dags/{dag_id}", {"is_paused": True})
    note.append(" -> ".join(f"{d} ({runs[d]['run_type']})" for d in CHAIN))
    if stopped:
        note.append(f"; scheduled runs marked failed: {', '.join(sorted(stopped))}")
    return runs


def task_hosts(
    api: AirflowApi, runs: Mapping[str, Mapping[str, Any]], workers: Mapping[str, str]
) -> dict[str, list[str]]:
    """Worker container -> the tasks it ran; fails on a task not run by a worker."""
    by_worker: dict[str, list[str]] = {name: [] for name in workers.values()}
    strays = []
    for dag_id, run_ in runs.items():
        for ti in api.task_instances(dag_id, run_["dag_run_id"]):
            if ti["state"] in {"skipped", "removed", None} and not ti.get("hostname"):
                continue  # never started (short-circuited, or a source with no keys)
            task = f"{dag_id}.{ti['task_id']}" + (
                f"[{ti['map_index']}]" if ti["map_index"] >= 0 else ""
            )
            worker = workers.get(ti.get("hostname") or "")
            if worker is None:
                strays.append(f"{task} on {ti.get('hostname')!r}")
            else:
                by_worker[worker].append(task)
    if strays:
        raise CheckFailed(f"tasks not run by a Celery worker: {strays}")
    idle = [name for name, tasks in by_worker.items() if not tasks]
    if idle:
        raise CheckFailed(f"workers that ran nothing: {idle}")
    return by_worker


# ------------------------------------------------------------------------------ the checks


def warehouse_rows(docker: str, container: str) -> tuple[int, str]:
    """serving.recommendations' row count and one listener, read in the warehouse container."""
    out = run(
        [
            docker,
            "exec",
            container,
            "psql",
            "-U",
            "encore",
            "-d",
            "encore",
            "-tAc",
            "select count(*), min(user_id) from serving.recommendations",
        ]
    ).stdout
    count, user = out.strip().split("|")
    return int(count), user


def pooled_rows(stack: Stack) -> tuple[int, str]:
    """The same view as recs_reader through the pgbouncer service (its published port)."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        port=stack.port("POOLER_PORT"),
        dbname="encore",
        user="recs_reader",
        password=stack.secret("ENCORE_READER_PASSWORD"),
        connect_timeout=10,
    ) as conn:
        row = conn.execute("select count(*), current_user from serving.recommendations").fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check_down(docker: str, note: list[str]) -> None:
    label = f"label=com.docker.compose.project={PROJECT}"
    left = {
        "containers": run([docker, "ps", "-aq", "--filter", label]).stdout.split(),
        "volumes": run([docker, "volume", "ls", "-q", "--filter", label]).stdout.split(),
        "networks": run([docker, "network", "ls", "-q", "--filter", label]).stdout.split(),
    }
    if any(left.values()):
        raise CheckFailed(f"left behind by down -v: {left}")
    note.append("no container, volume or network left")


# ------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ops.compose_check", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--workers", type=int, default=2, help="airflow-worker containers (>= 2)")
    parser.add_argument("--users", type=int, default=DEFAULT_CONF["users"])
    parser.add_argument("--tracks", type=int, default=DEFAULT_CONF["tracks"])
    parser.add_argument("--days", type=int, default=DEFAULT_CONF["days"])
    parser.add_argument(
        "--offline",
        choices=["auto", "yes", "no"],
        default="auto",
        help="docker/compose.offline.yml: auto = when Docker Hub does not answer",
    )
    parser.add_argument("--keep", action="store_true", help="leave the stack up (no down -v)")
    parser.add_argument("--timeout", type=float, default=2400, help="seconds for the DAG chain")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    steps = Steps()
    engine: Engine | None = None
    stack: Stack | None = None
    code = 0
    STATE.mkdir(parents=True, exist_ok=True)
    reason = ""
    for stale in ("build.log", "stack.log", "compose.log", "outcome"):
        (STATE / stale).unlink(missing_ok=True)
    try:
        with steps.step("tools") as note:
            ensure_tools(note)
        with steps.step("engine") as note:
            engine = start_engine(note)
        docker = engine.docker
        with steps.step("registry") as note:
            offline = args.offline == "yes" or (args.offline == "auto" and not registry_reachable())
            note.append("unreachable: offline images" if offline else "reachable: official images")
        files = [COMPOSE_FILE] + ([OFFLINE_FILE] if offline else [])
        env_file = Path(tempfile.mkstemp(prefix="compose-check-", suffix=".env", dir=STATE)[1])
        stack = Stack(files, throwaway_environment(subprocess_env()), env_file)
        image = stack.env.get("ENCORE_IMAGE", "encore:local")
        if offline:
            with steps.step("base image") as note:
                build_base(docker, note)
                probe_containers(docker, note)
        with steps.step("build") as note:
            if offline:
                build_offline(docker, image, note)
            else:
                stack.compose(
                    "pull", "warehouse", "airflow-metadata", "redis", log=STATE / "build.log"
                )
                stack.compose("build", log=STATE / "build.log")
                note.append("docker-compose pull + build")
        with steps.step("stale project") as note:  # a previous run killed before its down
            stack.compose("down", "-v", "--remove-orphans", log=STATE / "compose.log")
            note.append("none" if not containers(docker) else "removed")
        with steps.step("up") as note:
            stack.compose(
                "up",
                "-d",
                "--no-build",
                "--scale",
                f"airflow-worker={args.workers}",
                log=STATE / "compose.log",
            )
            note.append(f"--scale airflow-worker={args.workers}")
        with steps.step("healthy") as note:
            services = len(yaml_services()) - 1 + args.workers
            found = wait_healthy(docker, services, timeout=900, note=note)
        workers = {
            c["Config"]["Hostname"]: c["Name"].lstrip("/")
            for c in found
            if service_of(c) == "airflow-worker"
        }
        by_service = {service_of(c): c["Name"].lstrip("/") for c in found}
        with steps.step("dags") as note:
            api = AirflowApi.login(
                f"http://127.0.0.1:{stack.port('AIRFLOW_PORT')}",
                "admin",
                stack.secret("ENCORE_AIRFLOW_ADMIN_PASSWORD"),
            )
            conf = {
                "users": args.users,
                "tracks": args.tracks,
                "days": args.days,
                "seed": DEFAULT_CONF["seed"],
            }
            runs = run_chain(api, conf, args.timeout, note)
        with steps.step("workers") as note:
            by_worker = task_hosts(api, runs, workers)
            note.append(", ".join(f"{w}: {len(t)} tasks" for w, t in sorted(by_worker.items())))
        with steps.step("published") as note:
            count, user = warehouse_rows(docker, by_service["warehouse"])
            if count <= 0:
                raise CheckFailed("serving.recommendations is empty")
            note.append(f"{count} rows in serving.recommendations")
        with steps.step("pooler") as note:
            pooled, role = pooled_rows(stack)
            if (pooled, role) != (count, "recs_reader"):
                raise CheckFailed(
                    f"through pgbouncer: {pooled} rows as {role}, not {count} as recs_reader"
                )
            note.append(f"recs_reader read {pooled} rows through pgbouncer")
        with steps.step("api") as note:
            base = f"http://127.0.0.1:{stack.port('ENCORE_API_PORT')}"
            status, body = get(f"{base}/health")
            health = json.loads(body)
            if (
                status != 200
                or health.get("status") != "ok"
                or health.get("database_role") != "recs_reader"
            ):
                raise CheckFailed(f"/health: {status} {body[:300]!r}")
            status, body = get(f"{base}/recommendations/{quote(user)}?limit=5")
            items = json.loads(body).get("items", []) if status == 200 else []
            if not items:
                raise CheckFailed(f"/recommendations/{user}: {status} {body[:300]!r}")
            note.append(f"/health ok; {len(items)} recommendations for {user}")
        with steps.step("docs") as note:
            status, body = get(f"http://127.0.0.1:{stack.port('DOCS_PORT')}/")
            if status != 200 or b"dbt" not in body.lower():
                raise CheckFailed(f"docs site: {status}")
            note.append(f"{len(body)} bytes from the docs site")
        print("\nwhich worker ran which tasks:")
        for worker, tasks in sorted(by_worker.items()):
            print(f"  {worker} ({len(tasks)}): {', '.join(sorted(tasks))}")
    except Missing as error:
        print(f"compose-check: {error}", file=sys.stderr)
        code, reason = EXIT_MISSING, str(error)
    except Environment as error:
        print(f"compose-check: this environment cannot run the stack: {error}", file=sys.stderr)
        code, reason = EXIT_ENVIRONMENT, str(error)
    except (
        CheckFailed,
        AirflowApiError,
        AssertionError,
        OSError,
        subprocess.SubprocessError,
    ) as error:
        print(f"compose-check FAILED: {error}", file=sys.stderr)
        code, reason = EXIT_FAILED, str(error)
    finally:
        if stack is not None and engine is not None:
            if code == EXIT_FAILED:
                stack.compose(
                    "logs", "--no-color", "--tail", "200", log=STATE / "stack.log", check=False
                )
                print(f"the stack's logs: {STATE / 'stack.log'}", file=sys.stderr)
            if not args.keep:
                try:
                    with steps.step("down -v") as note:
                        stack.compose("down", "-v", "--remove-orphans", log=STATE / "compose.log")
                        check_down(engine.docker, note)
                except CheckFailed as error:
                    print(f"compose-check FAILED: {error}", file=sys.stderr)
                    code, reason = code or EXIT_FAILED, reason or str(error)
            stack.env_file.unlink(missing_ok=True)
        if engine is not None and not args.keep:
            engine.stop()
        print("\n" + steps.table())
        kind = {0: "passed", 1: "failed", 2: "missing", 3: "environment"}[code]
        OUTCOME.write_text(f"{kind}: {reason}\n" if reason else f"{kind}\n")
        print(
            "compose-check: "
            + {0: "passed", 1: "FAILED", 2: "missing tools", 3: "skipped (environment)"}[code]
        )
    return code


def yaml_services() -> list[str]:
    import yaml

    return list(yaml.safe_load(COMPOSE_FILE.read_text())["services"])


if __name__ == "__main__":
    sys.exit(main())
