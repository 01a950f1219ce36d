"""`make docs`: the dbt docs site (models, columns, lineage graph) on 127.0.0.1.

`dbt docs generate` writes a self-contained static site into the target folder: index.html
fetches manifest.json and catalog.json next to it. A static file server is all it needs, so
the site is served by Python's own `http.server` rather than `dbt docs serve`, which would
open a browser, serve from the current directory and die with the terminal. It runs
detached in its own process group (pid file and log in `.encore/`); `make docs` again
regenerates the files under the running server, which serves the new ones.
"""

from __future__ import annotations

import subprocess
import sys
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
    get_json,
    port_in_use,
    spawn,
    stop_service,
    wait_until,
)
from warehouse.connections import dbt_env
from warehouse.paths import dbt_project_dir

DEFAULT_PORT = 8081
HOST = "127.0.0.1"
SITE_FILES = ("index.html", "manifest.json", "catalog.json")


@dataclass(frozen=True)
class DocsSite:
    url: str
    pid: int
    directory: Path
    log_file: Path


def service(state: Path | None = None) -> Service:
    return Service("dbt-docs", state or default_state())


def generate(target_dir: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """`dbt docs generate` (profile from the warehouse env); returns the site's folder."""
    project = dbt_project_dir()
    target = target_dir or project / "target"
    command = [
        bin_path("dbt"),
        "docs",
        "generate",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(target),
    ]
    if env is None:  # the profile's ENCORE_PG_* from WAREHOUSE_URL or the embedded warehouse
        env = subprocess_env(dbt_env())
    result = subprocess.run(
        command, cwd=project, env=child_env(env), capture_output=True, text=True, timeout=1800
    )
    if result.returncode != 0:
        raise ServiceError("dbt docs generate failed:\n" + (result.stdout + result.stderr)[-4000:])
    missing = [name for name in SITE_FILES if not (target / name).is_file()]
    if missing:
        raise ServiceError(f"dbt docs generate left no {', '.join(missing)} in {target}")
    return target


def _serves(url: str) -> bool:
    status, body = get_json(f"{url}/manifest.json")
    return status == 200 and isinstance(body, dict)


def serve(
    directory: Path, port: int = DEFAULT_PORT, state: Path | None = None, timeout: float = 60.0
) -> DocsSite:
    """Serve `directory` on 127.0.0.1:`port` (reusing a server already serving it)."""
    svc = service(state)
    directory = directory.resolve()
    if (pid := svc.pid()) is not None:
        info = svc.info()
        if info.get("directory") == str(directory) and _serves(info.get("url", "")):
            return DocsSite(url=info["url"], pid=pid, directory=directory, log_file=svc.log_file)
        stop_service(svc)
    if port_in_use(port, HOST):
        raise ServiceError(f"port {port} is taken by another program: set DOCS_PORT")
    url = f"http://{HOST}:{port}/"
    process = spawn(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            HOST,
            "--directory",
            str(directory),
        ],
        subprocess_env(),
        svc.log_file,
    )
    svc.record(process.pid, {"url": url, "directory": str(directory), "port": port})
    try:
        wait_until(
            lambda: _serves(url.rstrip("/")),
            timeout=timeout,
            what="dbt docs server",
            alive=lambda: process.poll() is None,
            log_file=svc.log_file,
        )
    except ServiceError:
        stop_service(svc)
        raise
    return DocsSite(url=url, pid=process.pid, directory=directory, log_file=svc.log_file)


def generate_and_serve(
    port: int = DEFAULT_PORT,
    target_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    state: Path | None = None,
) -> DocsSite:
    """What `make docs` does: build the site, then serve it."""
    return serve(generate(target_dir, env), port=port, state=state)
