"""A local fakesnow server (Snowflake's HTTP protocol on DuckDB) for the offline tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

try:
    import fakesnow

    # fakesnow.server() imports its submodule fakesnow.server, which then shadows the
    # function on the package: keep the function from before the first start.
    _start_server = fakesnow.server if callable(fakesnow.server) else None
except ImportError:
    _start_server = None


@contextmanager
def running_fakesnow() -> Iterator[dict[str, Any]]:
    """Start fakesnow on 127.0.0.1 (a free port); yields snowflake.connector kwargs.

    Skips the calling test when fakesnow is missing or cannot start (it is a dev
    dependency; a user's install may not have it).
    """
    if _start_server is None:
        pytest.skip("fakesnow is not installed (a dev dependency)")
    try:
        context = _start_server()
        kwargs = context.__enter__()
    except Exception as error:  # any failure to start means: skip
        pytest.skip(f"fakesnow server could not start: {error!r}")
    try:
        # no 1 s network_timeout: bulk INSERTs take longer on DuckDB
        yield {k: v for k, v in kwargs.items() if k != "network_timeout"}
    finally:
        context.__exit__(None, None, None)


def snowflake_env(server: dict[str, Any], database: str) -> dict[str, str]:
    """The SNOWFLAKE_* settings (dbt's profile and warehouse.snowflake.connect_from_env) that
    reach `server`'s `database`, with the Snowflake target selected."""
    return {
        "DBT_TARGET": "snowflake",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "SNOWFLAKE_ACCOUNT": server["account"],
        "SNOWFLAKE_USER": server["user"],
        "SNOWFLAKE_PASSWORD": server["password"],
        "SNOWFLAKE_HOST": server["host"],
        "SNOWFLAKE_PORT": str(server["port"]),
        "SNOWFLAKE_PROTOCOL": server["protocol"],
        "SNOWFLAKE_DATABASE": database,
        "SNOWFLAKE_SCHEMA": "PUBLIC",
    }


def dbt_build_snowflake(
    server: dict[str, Any], database: str, scratch: Path, exclude: Sequence[str] = ()
) -> Any:
    """`dbt build --target snowflake` in-process against the fakesnow server; asserts
    success and returns dbt's result."""
    from dbt.cli.main import dbtRunner

    from warehouse.paths import dbt_project_dir

    project = dbt_project_dir()
    args = [
        "build",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target",
        "snowflake",
        "--target-path",
        str(scratch / "target"),
        "--log-path",
        str(scratch / "logs"),
        "--threads",
        "1",
    ]
    if exclude:
        args += ["--exclude", *exclude]
    with pytest.MonkeyPatch.context() as patch:
        for key, value in snowflake_env(server, database).items():
            patch.setenv(key, value)
        result = dbtRunner().invoke(args)
    failures = [
        f"{node_result.node.unique_id}: {node_result.status} {node_result.message}"
        for node_result in (result.result or [])
        if str(node_result.status) not in {"success", "pass", "no-op"}
    ]
    assert result.success, f"dbt build failed: {result.exception or ''}\n" + "\n".join(failures)
    return result
