"""The one place that knows where the warehouse is.

Python code, dbt and the Airflow tasks all read the warehouse location from here:
`WAREHOUSE_URL` when it is set (docker-compose's PostgreSQL, a managed server), else the
embedded cluster. dbt's profiles.yml reads the `ENCORE_PG_*` variables `dbt_env()` derives
from the same URL. (No Airflow connection is defined: the tasks call this module.)
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import psycopg
from pydantic import SecretStr

from config import get_settings
from warehouse import embedded
from warehouse.paths import dbt_project_dir

SNOWFLAKE_PROFILE_SETTINGS = (
    "snowflake_account",
    "snowflake_user",
    "snowflake_password",
    "snowflake_role",
    "snowflake_warehouse",
    "snowflake_database",
    "snowflake_schema",
    "snowflake_host",
    "snowflake_port",
    "snowflake_protocol",
)


def uses_embedded() -> bool:
    return get_settings().warehouse_url is None


def warehouse_url() -> str:
    """The warehouse's connection URL (may contain a password: never print it, use redacted)."""
    url = get_settings().warehouse_url
    return url.get_secret_value() if url is not None else embedded.server().url


def redacted(url: str) -> str:
    """The URL with any password replaced, for logs and screens."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def ensure_warehouse() -> str:
    """Make sure the warehouse is reachable (starting the embedded one if it is in use)."""
    if uses_embedded():
        embedded.start()
    return warehouse_url()


def connect(*, autocommit: bool = False) -> psycopg.Connection:
    """A new psycopg connection to the warehouse."""
    return psycopg.connect(warehouse_url(), autocommit=autocommit, application_name="encore")


def dbt_env() -> dict[str, str]:
    """Environment variables that dbt_project/profiles.yml reads."""
    parts = urlsplit(warehouse_url())
    settings = get_settings()
    env = {
        "ENCORE_PG_HOST": parts.hostname or "127.0.0.1",
        "ENCORE_PG_PORT": str(parts.port or 5432),
        "ENCORE_PG_USER": unquote(parts.username or ""),
        "ENCORE_PG_PASSWORD": unquote(parts.password or ""),
        "ENCORE_PG_DATABASE": parts.path.lstrip("/") or "postgres",
        "DBT_PROFILES_DIR": str(dbt_project_dir()),
        "DBT_TARGET": settings.dbt_target,
    }
    # The snowflake profile's variables, so dbt sees values that came from `.env` too.
    for name in SNOWFLAKE_PROFILE_SETTINGS:
        value = getattr(settings, name)
        if value is not None:
            plain = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            env[name.upper()] = plain
    return env
