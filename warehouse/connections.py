"""The one place that knows where the warehouse is.

Python code, dbt and Airflow all read the warehouse location from here: `WAREHOUSE_URL` when
it is set (docker-compose's PostgreSQL, a managed server), else the embedded cluster.
dbt's profiles.yml reads `ENCORE_PG_*` variables and Airflow an `AIRFLOW_CONN_*` URI; both
are derived from the same URL by `dbt_env()` and `airflow_env()`.
"""

from __future__ import annotations

import os
from urllib.parse import quote, unquote, urlsplit

import psycopg

from warehouse import embedded

AIRFLOW_CONN_ID = "encore_warehouse"


def uses_embedded() -> bool:
    return not os.environ.get("WAREHOUSE_URL")


def warehouse_url() -> str:
    """The warehouse's connection URL (may contain a password: never print it, use redacted)."""
    return os.environ.get("WAREHOUSE_URL") or embedded.server().url


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
    from warehouse.paths import dbt_project_dir

    parts = urlsplit(warehouse_url())
    return {
        "ENCORE_PG_HOST": parts.hostname or "127.0.0.1",
        "ENCORE_PG_PORT": str(parts.port or 5432),
        "ENCORE_PG_USER": unquote(parts.username or ""),
        "ENCORE_PG_PASSWORD": unquote(parts.password or ""),
        "ENCORE_PG_DATABASE": parts.path.lstrip("/") or "postgres",
        "DBT_PROFILES_DIR": str(dbt_project_dir()),
    }


def airflow_env() -> dict[str, str]:
    """The Airflow connection for the warehouse, as an AIRFLOW_CONN_* variable."""
    parts = urlsplit(warehouse_url())
    user = quote(unquote(parts.username or ""), safe="")
    password = f":{quote(unquote(parts.password), safe='')}" if parts.password else ""
    uri = f"postgres://{user}{password}@{parts.hostname}:{parts.port or 5432}{parts.path}"
    return {f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}": uri}
