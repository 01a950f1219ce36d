"""Shared fixtures: a real PostgreSQL warehouse, isolated from the demo's data.

Tests run against the same embedded cluster as `make demo` but in their own database,
`encore_test_<pid>`, created fresh for each pytest session and dropped after it (so two
sessions never collide); `WAREHOUSE_URL` points everything (Python, dbt, Airflow) at it.
Local state (Airflow home, model artifacts) goes to a temp folder. Set
`ENCORE_TEST_WAREHOUSE_URL` to an admin URL to run the suite against another server.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from config import (
    ENV_FILE_VAR,
    FIELDS,
    Settings,
    get_settings,
    process_env,
    set_process_env,
    subprocess_env,
    tool_env,
)
from warehouse.runtime import airflow_settings

# The suite never reads a developer's `.env` (their keys would reach the tests); the tests
# that prove `.env` is read name their own file.
set_process_env({ENV_FILE_VAR: "none"})
# Airflow reads its configuration once, at first import: point it at a throwaway home
# before any test imports it, so tests never touch the demo's Airflow state.
AIRFLOW_TEST_HOME = Path(tempfile.mkdtemp(prefix="encore-airflow-test-"))
atexit.register(shutil.rmtree, AIRFLOW_TEST_HOME, ignore_errors=True)  # one per process
set_process_env(airflow_settings(AIRFLOW_TEST_HOME))
# pytest-xdist workers (`make test` runs two) share the cores: LightGBM's OpenMP threads spin
# while they wait, so two 2-thread fits on 2 cores take 10-30x as long (docs/benchmarks.md).
# OMP_NUM_THREADS caps the boosters loaded from files too (they predict with OpenMP's default).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    set_process_env({"ENCORE_LIGHTGBM_THREADS": _THREADS, "OMP_NUM_THREADS": _THREADS})

TEST_DATABASE_PREFIX = "encore_test_"
# Long enough for the model's split: 30 censored + 30 validation + a 30-day label gap.
SMALL_WORLD = {
    "seed": 7,
    "n_users": 120,
    "n_tracks": 1500,
    "days": 120,
    "end_date": dt.date(2026, 6, 1),
}


def _admin_url() -> str:
    override = tool_env("ENCORE_TEST_WAREHOUSE_URL")
    if override:
        return override
    from warehouse import embedded

    return embedded.start().url


def _maintenance_url(admin_url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(admin_url)._replace(path="/postgres").geturl()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create_database(admin_url: str, suffix: str = "") -> str:
    """Create a database for this session (`encore_test_<pid>[_suffix]`), first dropping the
    ones that sessions which died left behind."""
    from urllib.parse import urlsplit

    database = f"{TEST_DATABASE_PREFIX}{os.getpid()}{'_' + suffix if suffix else ''}"
    with psycopg.connect(_maintenance_url(admin_url), autocommit=True) as conn:
        names = conn.execute(
            "select datname from pg_database where datname like %s", [f"{TEST_DATABASE_PREFIX}%"]
        ).fetchall()
        for (name,) in names:
            owner_pid = name.removeprefix(TEST_DATABASE_PREFIX).split("_")[0]
            if name == database or (owner_pid.isdigit() and not _pid_alive(int(owner_pid))):
                conn.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    return urlsplit(admin_url)._replace(path=f"/{database}").geturl()


def _drop_database(admin_url: str, url: str) -> None:
    from urllib.parse import urlsplit

    database = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_maintenance_url(admin_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database))
        )


@pytest.fixture(scope="session")
def state_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("encore-state")
    set_process_env({"ENCORE_ARTIFACTS_DIR": str(home / "artifacts")})
    return home


@pytest.fixture(scope="session")
def warehouse_url(state_home: Path) -> Iterator[str]:
    """A fresh, bootstrapped test database; WAREHOUSE_URL points at it for the session."""
    admin_url = _admin_url()
    url = _create_database(admin_url)
    from warehouse.bootstrap import bootstrap

    with process_env({"WAREHOUSE_URL": url}):
        with psycopg.connect(url) as conn:
            bootstrap(conn)
        yield url
        _drop_database(admin_url, url)


@pytest.fixture(scope="module")
def module_warehouse_url(warehouse_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A bootstrapped database of the module's own, for tests that replace whole sources
    (which would pull the data from under the session's `loaded_warehouse`)."""
    from warehouse.bootstrap import bootstrap

    admin_url = _admin_url()
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    url = _create_database(admin_url, suffix=module)
    with psycopg.connect(url) as connection:
        bootstrap(connection)
    yield url
    _drop_database(admin_url, url)


@pytest.fixture
def conn(warehouse_url: str) -> Iterator[psycopg.Connection]:
    """A connection to the session's test warehouse, closed after the test."""
    with psycopg.connect(warehouse_url) as connection:
        yield connection


@pytest.fixture
def module_conn(module_warehouse_url: str) -> Iterator[psycopg.Connection]:
    """A connection to the module's own test warehouse."""
    with psycopg.connect(module_warehouse_url) as connection:
        yield connection


@pytest.fixture(scope="session")
def small_world_config():
    from extract.synthetic import SyntheticConfig

    return SyntheticConfig(**SMALL_WORLD)


@pytest.fixture(scope="session")
def loaded_warehouse(warehouse_url: str, small_world_config) -> str:
    """The test warehouse with a small synthetic world in raw.*."""
    from extract.synthetic_load import generate_and_load

    with psycopg.connect(warehouse_url) as connection:
        generate_and_load(connection, small_world_config)
    return warehouse_url


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` (or ENCORE_SHARED_DATA); skips where it is absent, as on a user's box."""
    from warehouse.paths import shared_data_dir

    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (set ENCORE_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """A migrated Airflow metadata database in the test's Airflow home."""
    subprocess.run(
        ["airflow", "db", "migrate"], check=True, capture_output=True, env=subprocess_env()
    )
    return AIRFLOW_TEST_HOME


SettingsEnv = Callable[..., Settings]


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> SettingsEnv:
    """`settings_env(NAME=value, ...)`: the settings of an environment holding only these
    Encore variables (and no `.env`), set for the rest of the test."""

    def apply(**values: str) -> Settings:
        for name in FIELDS:
            monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.setenv(ENV_FILE_VAR, "none")
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return get_settings()

    return apply


SLOWEST_FILES = (
    "test_airflow_ui.py",
    "test_real_histories.py",
    "test_snowflake_dags.py",
    "test_idempotency.py",
    "test_dag_backfill.py",
    "test_bench.py",
    "test_snowflake_nightly.py",
    "test_snowflake_fakesnow.py",
    "test_dbt_build.py",
    "test_point_in_time.py",
    "test_list_model.py",
    "test_quality.py",
)
"""The test files that take longest, longest first (`make test`'s slowest durations)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files first, each file's tests in their own order: `make test` hands
    whole files to its workers in this order (`--dist loadfile --no-loadscope-reorder`), so
    the two multi-minute pipeline chains start at once, one per worker, and the short files
    fill in behind them."""
    rank = {name: position for position, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
