"""`make airflow`: Airflow's UI and scheduler for people, from `airflow standalone`.

Standalone runs the scheduler, API server (UI + REST), DAG processor and triggerer under one
parent with the simple auth manager, which generates an `admin` password into a file in
AIRFLOW_HOME the first time. It runs detached in its own process group (pid file and log in
`.encore/`), bound to 127.0.0.1, with the same bounded settings as every Encore command
(parallelism 4, one API worker, one parsing process) because the machine it shares with the
warehouse has two cores. A second `make airflow` finds the running one and reuses it.

The admin password is generated here, into the file the auth manager reads, before
standalone starts: standalone would otherwise print it into its log.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from config import subprocess_env
from ops.services import (
    Service,
    ServiceError,
    bin_path,
    child_env,
    default_state,
    free_port,
    get_json,
    port_in_use,
    spawn,
    stop_service,
    wait_until,
)

DEFAULT_PORT = 8080
HOST = "127.0.0.1"
ADMIN = "admin"
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"
HEALTH_PATH = "/api/v2/monitor/health"
# Components the health endpoint must report healthy before the UI is worth opening.
COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")
# Airflow's defaults for the log servers of the scheduler and the triggerer.
LOG_SERVER_PORTS = {"WORKER_LOG_SERVER_PORT": 8793, "TRIGGER_LOG_SERVER_PORT": 8794}


@dataclass(frozen=True)
class AirflowServer:
    url: str
    pid: int
    home: Path
    log_file: Path
    reused: bool

    @property
    def password_file(self) -> Path:
        return self.home / PASSWORD_FILE

    def password(self, user: str = ADMIN) -> str:
        """The generated password of `user` (simple auth manager; never logged by Encore)."""
        return json.loads(self.password_file.read_text())[user]

    def token(self, user: str = ADMIN) -> str:
        """A JWT for the REST API: POST /auth/token with the generated credentials."""
        body = json.dumps({"username": user, "password": self.password(user)}).encode()
        request = urllib.request.Request(
            f"{self.url}/auth/token",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["access_token"]


def service(state: Path | None = None) -> Service:
    return Service("airflow", state or default_state())


def healthy(url: str) -> bool:
    """The API server answers and every component reports itself healthy."""
    status, body = get_json(url + HEALTH_PATH)
    if status != 200 or not isinstance(body, dict):
        return False
    return all(
        (body.get(name) or {}).get("status") == "healthy" for name in COMPONENTS if name in body
    )


def ensure_password(home: Path, user: str = ADMIN) -> Path:
    """Create the simple auth manager's password file (owner-only) if it has no entry for
    `user`; the auth manager then finds the user and neither generates nor prints one."""
    path = home / PASSWORD_FILE
    passwords = json.loads(path.read_text() or "{}") if path.exists() else {}
    if user not in passwords:
        alphabet = "abcdefghkmnpqrstuvwxyzABCDEFGHKMNPQRSTUVWXYZ23456789"  # Airflow's own
        passwords[user] = "".join(secrets.choice(alphabet) for _ in range(16))
        path.touch(mode=0o600)
        path.write_text(json.dumps(passwords) + "\n")
    return path


def settings(port: int, home: Path) -> dict[str, str]:
    """What `make airflow` adds to the warehouse env: loopback only, modest concurrency."""
    overrides = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORD_FILE),
        # Task workers reach the Execution API here; its default assumes localhost:8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{port}/execution/",
        # LocalExecutor, with dbt imported once in the scheduler (ops/airflow_executor.py)
        "AIRFLOW__CORE__EXECUTOR": "ops.airflow_executor.PreloadingLocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
        "GX_ANALYTICS_ENABLED": "False",
    }
    for key, default in LOG_SERVER_PORTS.items():
        # A second instance (the tests') must not collide with the first one's log servers.
        overrides[f"AIRFLOW__LOGGING__{key}"] = str(
            default if not port_in_use(default) else free_port()
        )
    return overrides


def start(
    port: int = DEFAULT_PORT,
    env: Mapping[str, str] | None = None,
    state: Path | None = None,
    timeout: float = 600.0,
) -> AirflowServer:
    """Start `airflow standalone` (or reuse the running one) and wait until it is healthy.

    `env` defaults to this process's environment (the Makefile evals the warehouse env into
    it); AIRFLOW_HOME comes from it. `state` holds the pid file and the log.
    """
    svc = service(state)
    base = subprocess_env() if env is None else dict(env)
    if (pid := svc.pid()) is not None:
        info = svc.info()
        if healthy(info.get("url", "")):
            return AirflowServer(
                url=info["url"],
                pid=pid,
                home=Path(info["home"]),
                log_file=svc.log_file,
                reused=True,
            )
        raise ServiceError(
            f"Airflow (pid {pid}) runs but does not answer at "
            f"{info.get('url')}: see {svc.log_file}, or `make stop` first"
        )
    if port_in_use(port, HOST):
        raise ServiceError(f"port {port} is taken by another program: set AIRFLOW_PORT")
    home = Path(base.get("AIRFLOW_HOME") or default_state() / "airflow")
    home.mkdir(parents=True, exist_ok=True)
    ensure_password(home)
    url = f"http://{HOST}:{port}"
    process = spawn(
        [bin_path("airflow"), "standalone"], child_env(base, **settings(port, home)), svc.log_file
    )
    svc.record(process.pid, {"url": url, "home": str(home), "port": port})
    server = AirflowServer(url=url, pid=process.pid, home=home, log_file=svc.log_file, reused=False)
    try:
        wait_until(
            lambda: healthy(url),
            timeout=timeout,
            what="airflow standalone",
            alive=lambda: process.poll() is None,
            log_file=svc.log_file,
        )
    except ServiceError:
        stop_service(svc)
        raise
    return server
