"""The benchmark's own databases on the warehouse's server.

Each scale runs in `encore_bench_<scale>`, created fresh (a leftover from an interrupted
run is dropped first) and bootstrapped like the real warehouse; `drop()` removes it. Only
names with the `encore_bench_` prefix are ever created or dropped: the `encore` database
and the tests' databases are never touched.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from warehouse import connections

PREFIX = "encore_bench_"


def server_url() -> str:
    """The warehouse server's URL (starting the embedded server if it is the one in use)."""
    return connections.ensure_warehouse()


def database_url(base_url: str, database: str) -> str:
    """`base_url` pointed at another database of the same server."""
    return urlsplit(base_url)._replace(path=f"/{database}").geturl()


def _check_name(database: str) -> None:
    if not database.startswith(PREFIX):
        raise ValueError(f"refusing to touch {database!r}: not a benchmark database")


def create(base_url: str, database: str) -> str:
    """Create (or re-create) `database`, bootstrap it and return its URL."""
    from warehouse.bootstrap import bootstrap

    drop(base_url, database)
    with psycopg.connect(database_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    url = database_url(base_url, database)
    with psycopg.connect(url) as conn:
        bootstrap(conn)
    return url


def drop(base_url: str, database: str) -> None:
    """Drop `database` if it exists (closing its connections)."""
    _check_name(database)
    with psycopg.connect(database_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database))
        )


def exists(base_url: str, database: str) -> bool:
    with psycopg.connect(database_url(base_url, "postgres"), autocommit=True) as conn:
        return (
            conn.execute("select 1 from pg_database where datname = %s", [database]).fetchone()
            is not None
        )


def server_setting(url: str, name: str) -> str:
    """A server setting as `SHOW` prints it."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql.SQL("show {}").format(sql.Identifier(name))).fetchone()
    return str(row[0]) if row else ""


def value(conn: psycopg.Connection, query: str) -> Any:
    """The one value of a query that always returns one row (an aggregate, a `show`)."""
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]
