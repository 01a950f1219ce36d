"""docker-compose.yml, the Dockerfile and .env.example, checked without a Docker engine.

`make compose-check` (ops/compose_check.py) starts the stack for real; these tests need no
engine, and the ones at the end each hold a fix that starting it required. Statically: compose
accepts the file (when the client has the compose plugin), the Celery workers can scale, every
service waits for what it needs, ports stay on loopback, the file holds no secret, every
variable compose or the code reads is documented in .env.example, and every command a
container runs names a module, CLI subcommand, flag or file that really exists.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
CONTAINER_ROOT = "/opt/encore"  # WORKDIR of the image: relative paths resolve against ROOT

REQUIRED_SERVICES = {
    "warehouse",
    "airflow-metadata",
    "redis",
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "dbt-docs",
    "api",
}
ONE_SHOT = {"airflow-init"}
AIRFLOW_SERVICES = {
    name for name in REQUIRED_SERVICES if name.startswith("airflow-") and name != "airflow-metadata"
}
# Read by the code but not Encore configuration: set by the OS or the shell, or derived by
# `python -m warehouse env` (warehouse/runtime.py) rather than chosen by a person.
SHELL_BUILTINS = {"set", "umask", "export", "echo", "printf", "true", ":", "trap", "exec"}
COREUTILS = {"mkdir", "cat"}
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
REQUIRED_REFERENCE = re.compile(r"^\$\{([A-Z0-9_]+):\?[^}]*\}$")
EMPTY_PASS_THROUGH = re.compile(r"^\$\{([A-Z0-9_]+)(:-)?\}$")
URL_PASSWORD = re.compile(r"[a-z0-9+]+://[^:/@\s]+:(?P<password>[^@\s]+)@")
SECRET_KEY_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _documented() -> set[str]:
    """Variable names .env.example mentions, set (`NAME=`) or described in a comment (`# NAME=`)."""
    return set(re.findall(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))


def _own_image(service: dict[str, Any]) -> bool:
    return "build" in service


# ------------------------------------------------------------------------------- compose itself


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on PATH")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("the docker client has no compose plugin (`docker compose version` fails)")
    # Required variables get throwaway values; an empty env file keeps a developer's .env out.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_FILE.read_text()))
    env = {**os.environ, **{name: "placeholder-not-a-secret" for name in required}}
    result = subprocess.run(
        [docker, "compose", "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_docker_compose_1_accepts_the_file(tmp_path: Path) -> None:
    """Debian's docker-compose (1.29, what `make compose-check` uses) validates the file and
    the offline override together (it rejected a top-level `name:`)."""
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("no docker-compose (Debian's package; `make compose-check` installs it)")
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_FILE.read_text()))
    env = {**os.environ, **{name: "placeholder-not-a-secret" for name in required}}
    offline = ROOT / "docker" / "compose.offline.yml"
    for files in (["-f", str(COMPOSE_FILE)], ["-f", str(COMPOSE_FILE), "-f", str(offline)]):
        result = subprocess.run(
            [tool, "--env-file", str(env_file), *files, "config", "-q"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr


def test_every_required_service_is_there(services: dict[str, Any]) -> None:
    assert set(services) >= REQUIRED_SERVICES, REQUIRED_SERVICES - set(services)
    assert services["warehouse"]["image"].startswith("postgres:16")
    assert services["airflow-metadata"]["image"].startswith("postgres:16")
    assert "redis" in services["redis"]["image"]


def test_one_image_from_the_project_dockerfile(services: dict[str, Any]) -> None:
    built = {name: s for name, s in services.items() if _own_image(s)}
    assert AIRFLOW_SERVICES | {"dbt-docs", "api"} <= set(built)
    assert len({json.dumps(s["build"], sort_keys=True) for s in built.values()}) == 1
    assert len({s["image"] for s in built.values()}) == 1
    (build,) = {json.dumps(s["build"], sort_keys=True) for s in built.values()}
    assert (ROOT / json.loads(build)["context"] / json.loads(build)["dockerfile"]).is_file()


def test_workers_scale_with_celery_on_redis(services: dict[str, Any]) -> None:
    worker = services["airflow-worker"]
    assert "container_name" not in worker, "a fixed name forbids --scale"
    assert "ports" not in worker, "a fixed host port forbids --scale"
    assert worker["command"][:3] == ["airflow", "celery", "worker"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:"), name
        backend = env["AIRFLOW__CELERY__RESULT_BACKEND"]
        assert backend.startswith("db+postgresql://") and "@airflow-metadata:" in backend, name
        assert "@airflow-metadata:" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        # Airflow 3: workers reach the api-server's execution API with JWTs signed by one secret
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
            "http://airflow-api-server:8080/execution"
        ), name
        for secret in (
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__CORE__FERNET_KEY",
            "AIRFLOW__API__SECRET_KEY",
        ):
            assert REQUIRED_REFERENCE.match(env[secret]), (name, secret)
    assert services["airflow-api-server"]["command"][-1] == "8080"


def test_celery_provider_is_locked() -> None:
    """CeleryExecutor and `airflow celery worker` live in apache-airflow-providers-celery."""
    locked = re.findall(r'^name = "([^"]+)"', (ROOT / "uv.lock").read_text(), re.M)
    if "apache-airflow-providers-celery" not in locked:
        pytest.xfail(
            "apache-airflow-providers-celery (with celery[redis]) is not in uv.lock yet: "
            "the compose workers need it (a dependency for the lead to add)"
        )


def test_services_wait_for_healthy_dependencies(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name not in ONE_SHOT:
            assert "healthcheck" in service, f"{name} has no healthcheck"
            assert service.get("restart") in {"always", "unless-stopped"}, name
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for target, spec in depends.items():
            condition = spec.get("condition")
            assert target in services, (name, target)
            if target in ONE_SHOT:
                assert condition == "service_completed_successfully", (name, target)
            else:
                assert condition == "service_healthy", (name, target)
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no"
    needs = {
        "airflow-init": {"warehouse", "airflow-metadata"},
        "airflow-scheduler": {"warehouse", "airflow-metadata", "redis", "airflow-init"},
        "airflow-worker": {
            "warehouse",
            "airflow-metadata",
            "redis",
            "airflow-init",
            "airflow-api-server",
        },
        "api": {"warehouse", "airflow-init"},
        "dbt-docs": {"warehouse", "airflow-init"},
    }
    for name, targets in needs.items():
        assert targets <= set(services[name]["depends_on"]), (name, targets)


def test_published_ports_listen_on_loopback_only(services: dict[str, Any]) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
            published += 1
    assert published >= 3  # Airflow UI, API, dbt docs


def test_the_api_reads_as_recs_reader(services: dict[str, Any]) -> None:
    env = services["api"]["environment"]
    assert env["ENCORE_API_DATABASE_URL"].startswith("postgresql://recs_reader:")
    assert "WAREHOUSE_URL" not in env, "the API must not hold the owner's credentials"
    assert (ROOT / "docker" / "warehouse-init").is_dir()


# ---------------------------------------------------------------------------------- secrets


def _environments(services: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            yield name, key, str(value)


def test_no_secret_is_written_in_the_compose_file(services: dict[str, Any]) -> None:
    for name, key, value in _environments(services):
        if SECRET_KEY_NAME.search(key) and not key.endswith("_FILE"):
            required, optional = REQUIRED_REFERENCE.match(value), EMPTY_PASS_THROUGH.match(value)
            assert required or optional, f"{name}: {key} must come from the environment"
    for match in URL_PASSWORD.finditer(COMPOSE_FILE.read_text()):
        assert REQUIRED_REFERENCE.match(match["password"]), "a password written in a URL"


# -------------------------------------------------------------------------- .env.example


def test_compose_variables_are_documented() -> None:
    used = set(VARIABLE.findall(COMPOSE_FILE.read_text()))
    assert used, "the compose file reads no variables?"
    assert not used - _documented(), f"add to .env.example: {sorted(used - _documented())}"


def test_every_setting_is_documented() -> None:
    """Each variable of config.Settings appears in .env.example (set, or in a comment)."""
    from config import FIELDS

    missing = sorted(name.upper() for name in FIELDS)
    missing = [name for name in missing if name not in _documented()]
    assert not missing, f"document in .env.example: {missing}"


# ------------------------------------------------------------------------- commands exist


@pytest.fixture(scope="module")
def cli_catalogue(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Airflow's and dbt's real subcommands and flags, read from the installed packages in a
    child process (Airflow reads its configuration at import: the child gets a scratch home)."""
    script = r"""
import json
from airflow.cli.cli_config import core_commands
from dbt.cli.main import cli

def flags(args):
    return sorted(f for a in args for f in a.flags if f.startswith("-"))

airflow = {}
for command in core_commands:
    if hasattr(command, "subcommands"):
        airflow[command.name] = {s.name: flags(s.args) for s in command.subcommands}
    else:
        airflow[command.name] = flags(command.args)

def click_tree(group):
    out = {}
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            out[name] = click_tree(command)
        else:
            out[name] = sorted(o for p in command.params for o in [*p.opts, *p.secondary_opts])
    return out

print(json.dumps({"airflow": airflow, "dbt": click_tree(cli)}))
"""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _simple_commands(text: str) -> Iterator[list[str]]:
    """A shell line as its simple commands (split at && || ; |), `exec` dropped."""
    lexer = shlex.shlex(text.replace("$$", "$"), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    current: list[str] = []
    for token in lexer:
        if token in {"&&", "||", ";", "|", "&"}:
            if current:
                yield current
            current = []
        else:
            current.append(token)
    if current:
        yield current


def _script_commands(path: Path) -> Iterator[list[str]]:
    """The commands of a bash script, skipping comments; `python - <<'X'` heredocs become
    `python -c <body>` (checked as Python), other heredoc bodies are data (psql's SQL)."""
    heredoc_end: str | None = None
    opener: list[str] = []
    body: list[str] = []
    for line in path.read_text().splitlines():
        if heredoc_end is not None:
            if line.strip() != heredoc_end:
                body.append(line)
                continue
            heredoc_end = None
            if opener[:2] == ["python", "-"]:
                yield ["python", "-c", "\n".join(body)]
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if marker := re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line):
            heredoc_end, body = marker.group(1), []
            line = line[: marker.start()]
            opener = next(iter(_simple_commands(line)), [])
            if opener[:2] == ["python", "-"]:
                continue
        yield from _simple_commands(line)


def _container_commands(service: dict[str, Any]) -> Iterator[list[str]]:
    command = service.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    if command:
        if command[0] in {"bash", "sh"} and len(command) >= 3 and command[1] == "-c":
            yield from _simple_commands(command[2])
        else:
            yield command
    test = (service.get("healthcheck") or {}).get("test")
    if test and test[0] == "CMD":
        yield list(test[1:])
    elif test and test[0] == "CMD-SHELL":
        yield from _simple_commands(test[1])


def _check_flags(words: list[str], known: list[str], where: str) -> None:
    for word in words:
        if word.startswith("-"):
            assert word.split("=")[0] in known, f"{where}: unknown flag {word}"


def _check_command(
    words: list[str], catalogue: dict[str, Any], where: str, cwd: Path = ROOT
) -> Iterator[Path]:
    """Assert one command names real things; yields scripts it runs (checked in turn)."""
    if words[0] == "exec":
        words = words[1:]
    tool, args = words[0], words[1:]
    if tool in SHELL_BUILTINS | COREUTILS or re.match(r"^[A-Za-z_]\w*=", tool):  # or NAME=
        return
    if tool == "cd":
        assert (cwd / args[0]).is_dir(), f"{where}: no folder {args[0]}"
    elif tool in {"bash", "sh"}:
        script = (
            ROOT / Path(args[0]).relative_to(CONTAINER_ROOT)
            if args[0].startswith(CONTAINER_ROOT)
            else ROOT / args[0]
        )
        assert script.is_file(), f"{where}: no script {args[0]}"
        yield script
    elif tool == "python" and args[:1] == ["-m"]:
        module = args[1]
        main = ROOT / module.replace(".", "/") / "__main__.py"
        if (ROOT / module.split(".")[0]).is_dir():
            assert main.is_file(), f"{where}: {module} is not runnable with python -m"
            source = main.read_text()
            rest = args[2:]
            positional = rest[:1] if rest and not rest[0].startswith("-") else []  # subcommand
            for word in [*positional, *(w.split("=")[0] for w in rest if w.startswith("--"))]:
                assert f'"{word}"' in source, f"{where}: python -m {module} knows no {word}"
        else:
            import importlib.util

            assert importlib.util.find_spec(module), f"{where}: no module {module}"
    elif tool == "python":
        assert args[:1] == ["-c"], f"{where}: python runs what? {args}"
        compile(args[1], where, "exec")
    elif tool == "airflow":
        commands = catalogue["airflow"]
        if args[0] == "celery":  # from apache-airflow-providers-celery (see its test above)
            assert args[1] in {"worker", "flower", "stop"}, f"{where}: airflow celery {args[1]}"
            return
        assert args[0] in commands, f"{where}: airflow has no {args[0]}"
        known = commands[args[0]]
        if isinstance(known, dict):
            assert args[1] in known, f"{where}: airflow {args[0]} has no {args[1]}"
            _check_flags(args[2:], known[args[1]], where)
        else:
            _check_flags(args[1:], known, where)
    elif tool == "dbt":
        node: Any = catalogue["dbt"]
        words = list(args)
        while isinstance(node, dict):
            assert words and words[0] in node, f"{where}: dbt has no {' '.join(args)}"
            node = node[words.pop(0)]
        _check_flags(words, node, where)
    elif tool == "make":
        targets = re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M)
        for target in (w for w in args if not w.startswith("-") and "=" not in w):
            assert target in targets, f"{where}: no make target {target}"
    elif tool == "pgbouncer":  # Debian's package, installed by the Dockerfile
        assert re.search(r"apt-get install [^\n]*\bpgbouncer\b", DOCKERFILE.read_text()), where
        assert len(args) == 1, f"{where}: pgbouncer takes its config file"
    elif tool == "celery":  # the worker healthcheck, from the celery provider's app
        assert "--app" in args and any("celery_executor" in w for w in args), where
    else:
        raise AssertionError(f"{where}: unchecked command {tool!r}: teach this test about it")


def test_every_command_names_something_real(
    services: dict[str, Any], cli_catalogue: dict[str, Any]
) -> None:
    checked = 0
    for name, service in services.items():
        if not _own_image(service):
            continue
        pending = list(_container_commands(service))
        scripts: list[Path] = []
        cwd = ROOT
        for words in pending:
            scripts += list(_check_command(words, cli_catalogue, name, cwd))
            if words[0] == "cd":
                cwd = cwd / words[1]
            checked += 1
        for script in scripts:
            for words in _script_commands(script):
                list(_check_command(words, cli_catalogue, f"{name} ({script.name})"))
                checked += 1
    assert checked >= 15


def test_service_scripts_are_valid_bash() -> None:
    scripts = sorted((ROOT / "docker").rglob("*.sh"))
    assert scripts
    for script in scripts:
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, (script, result.stderr)
        assert os.access(script, os.X_OK), f"{script} is not executable"


# ------------------------------------------------------------------------------ Dockerfile


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def _ignored(path: str) -> bool:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    return any(
        fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") or path == p
        for p in patterns
    )


def test_dockerfile_copies_what_exists() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert any(i == "RUN" and "uv sync --frozen" in rest for i, rest in instructions)
    copied = 0
    for instruction, rest in instructions:
        if instruction not in {"COPY", "ADD"}:
            continue
        words = shlex.split(rest)
        if any(w.startswith("--from") for w in words):
            continue
        sources = [w for w in words if not w.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not _ignored(source), f"COPY {source}: excluded by .dockerignore"
            copied += 1
    assert copied >= 5
    # every package the project installs is in the image
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r"packages = \[([^\]]*)\]", pyproject)
    assert packages
    for package in re.findall(r'"(\w+)"', packages.group(1)):
        assert any(i == "COPY" and re.match(rf"{package}\b", rest) for i, rest in instructions), (
            f"the image lacks {package}/"
        )
    (entrypoint,) = [json.loads(rest) for i, rest in instructions if i == "ENTRYPOINT"]
    assert (ROOT / Path(entrypoint[0]).relative_to(CONTAINER_ROOT)).is_file()


# ------------------------------------------------- what starting the stack found (issue 17)
# `make compose-check` (ops/compose_check.py) starts the stack for real; each test below holds
# a fix that run needed, so a later edit cannot bring the failure back unnoticed.

# Top-level keys docker-compose 1.x (Debian's docker-compose package) accepts besides x-*.
COMPOSE_V1_TOP_LEVEL = {"version", "services", "volumes", "networks", "secrets", "configs"}


def test_top_level_keys_are_ones_docker_compose_1_accepts(compose: dict[str, Any]) -> None:
    """`name:` made docker-compose 1.29 reject the whole file; the name comes from
    COMPOSE_PROJECT_NAME in .env instead (read by compose v1 and v2 alike)."""
    unknown = {key for key in compose if not key.startswith("x-")} - COMPOSE_V1_TOP_LEVEL
    assert not unknown, f"docker-compose 1.x rejects the file with {sorted(unknown)}"
    assert re.search(r"^COMPOSE_PROJECT_NAME=encore$", ENV_EXAMPLE.read_text(), re.M)


def _locked(name: str) -> bool:
    return f'name = "{name}"' in (ROOT / "uv.lock").read_text()


def test_airflow_metadata_async_driver_is_installed(services: dict[str, Any]) -> None:
    """Airflow 3 opens an async engine too; unset, it derives postgresql+asyncpg:// from the
    sync URL and every Airflow process died at import (asyncpg is not locked)."""
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC")
        if url is None:
            assert _locked("asyncpg"), f"{name}: no async URL and asyncpg is not locked"
            continue
        driver = url.split("://", 1)[0].split("+")[1]
        assert driver in {"psycopg", "asyncpg"}, (name, driver)
        assert _locked(driver), f"{name}: {driver} is not in uv.lock"
        assert "@airflow-metadata:" in url, name
        assert "${ENCORE_AIRFLOW_DB_PASSWORD:?" in url, f"{name}: the password comes from .env"


def test_celery_has_what_the_celery_provider_imports() -> None:
    """celery 5.7 dropped celery.backends.database.retry, which the provider imports: the
    scheduler could not load CeleryExecutor and restarted in a loop. Every name the provider
    imports from celery must exist in the installed (locked) celery."""
    import importlib
    import importlib.util

    spec = importlib.util.find_spec("airflow.providers.celery")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("apache-airflow-providers-celery is not installed (the compose extra)")
    imports = 0
    for source in Path(next(iter(spec.submodule_search_locations))).rglob("*.py"):
        text = re.sub(r"\(\s*([^)]*?)\s*\)", lambda m: m[1].replace("\n", " "), source.read_text())
        for module, names in re.findall(r"^\s*from (celery[\w.]*) import ([^\n#]+)", text, re.M):
            loaded = importlib.import_module(module)
            for name in (n.split(" as ")[0].strip() for n in names.split(",")):
                if name:
                    assert hasattr(loaded, name) or importlib.util.find_spec(f"{module}.{name}"), (
                        f"{source.name}: from {module} import {name}"
                    )
                    imports += 1
    assert imports > 5


# -------------------------------------------------------------------- offline images


OFFLINE = ROOT / "docker" / "compose.offline.yml"
OFFLINE_DOCKERFILE = ROOT / "docker" / "offline" / "Dockerfile"


def _steps(path: Path) -> list[tuple[str, str]]:
    """A Dockerfile's instructions, comments and line continuations dropped, RUN's BuildKit
    flags and the CA bundle's variable taken out (what the offline build adds)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    steps = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, rest = line.strip().partition(" ")
        rest = re.sub(r"--mount=\S+\s+", "", rest)
        rest = re.sub(r"(SSL_CERT_FILE|PIP_CERT)=\S+\s+", "", rest)
        steps.append((instruction.upper(), " ".join(rest.split())))
    return steps


def test_offline_override_only_swaps_the_registry_images(services: dict[str, Any]) -> None:
    """docker/compose.offline.yml replaces postgres:16 and redis (no registry here) and
    nothing else: the Encore services, ports, healthchecks and commands stay the real file's."""
    override = yaml.safe_load(OFFLINE.read_text())
    assert set(override) == {"services"}
    registry = {name for name, service in services.items() if not _own_image(service)}
    assert set(override["services"]) == registry == {"warehouse", "airflow-metadata", "redis"}
    for name, service in override["services"].items():
        assert set(service) == {"image"}, name
        assert service["image"].startswith("encore-offline/"), name
    for dockerfile in ("postgres.Dockerfile", "redis.Dockerfile", "Dockerfile"):
        assert (ROOT / "docker" / "offline" / dockerfile).is_file()


def test_offline_dockerfile_has_the_real_steps() -> None:
    """docker/offline/Dockerfile = the Dockerfile after its base and uv: same ENV, COPY and
    RUN steps, same user and entry point (only the base, uv's origin and the CA secret differ)."""
    real, offline = _steps(DOCKERFILE), _steps(OFFLINE_DOCKERFILE)
    after_uv = next(i for i, (ins, rest) in enumerate(real) if ins == "COPY" and "--from" in rest)
    offline_env = next(i for i, (ins, _) in enumerate(offline) if ins == "ENV")
    assert offline[offline_env:] == real[after_uv + 1 :]
    uv_tag = re.search(r"astral-sh/uv:([\d.]+)", DOCKERFILE.read_text())
    assert uv_tag and f"uv=={uv_tag[1]}" in OFFLINE_DOCKERFILE.read_text()
    assert "ca-certificates.crt" not in " ".join(rest for _, rest in offline if "COPY" in _)


def test_offline_postgres_is_the_locked_pgserver() -> None:
    """The offline warehouse and metadata servers run the PostgreSQL 16 of the pgserver wheel
    the embedded warehouse locks, behind an entry point that honours the official image's
    POSTGRES_* variables and /docker-entrypoint-initdb.d (docker/warehouse-init)."""
    dockerfile = (ROOT / "docker" / "offline" / "postgres.Dockerfile").read_text()
    locked = re.search(r'name = "pgserver"\nversion = "([^"]+)"', (ROOT / "uv.lock").read_text())
    assert locked and f"pgserver=={locked[1]}" in dockerfile
    entrypoint = (ROOT / "docker" / "offline" / "postgres-entrypoint.sh").read_text()
    for needed in (
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "docker-entrypoint-initdb.d",
    ):
        assert needed in entrypoint, needed
