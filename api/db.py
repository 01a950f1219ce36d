"""Read-only connections for the API: as `recs_reader` by default, pooled, autocommit.

The URL is the warehouse's (warehouse.connections) with the user replaced by recs_reader and
no password, or `ENCORE_API_DATABASE_URL` when set (a server where recs_reader has a
password, or another read-only role). Every session is read-only with a statement timeout,
and every query is its own implicit transaction: the API never holds locks between requests.
The pool is psycopg's: each connection is checked before a request gets it, so one left
broken by a warehouse restart is replaced, not handed out.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from psycopg_pool import ConnectionPool

from config import get_settings
from warehouse.connections import warehouse_url
from warehouse.serving import READER_ROLE

SESSION_OPTIONS = "-c default_transaction_read_only=on -c statement_timeout=5s"
# A listener's list from the current publish, best first (the JSON endpoint and the page)
TOP_LIST = """
select r.rank, r.track_key, t.track_name, t.artist_name, t.genre, r.score, r.reason,
       r.model_version, r.generated_at, r.as_of
from serving.recommendations as r
left join serving.tracks as t on t.track_key = r.track_key
where r.user_id = %s
order by r.rank
limit %s
"""
WAIT_SECONDS = 2.0  # a request waits this long for a connection, then gets a 503


def reader_url() -> str:
    """`ENCORE_API_DATABASE_URL`, else the warehouse URL as recs_reader (no password)."""
    override = get_settings().encore_api_database_url
    if override is not None:
        return override.get_secret_value()
    parts = urlsplit(warehouse_url())
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{READER_ROLE}@{host}{port}").geturl()


def open_pool(url: str, size: int) -> ConnectionPool:
    """Up to `size` read-only connections to `url`, opened in the background (the API
    starts even while the warehouse is down; requests then get a 503)."""
    return ConnectionPool(
        url,
        min_size=1,
        max_size=size,
        timeout=WAIT_SECONDS,
        check=ConnectionPool.check_connection,
        kwargs={
            "autocommit": True,
            "connect_timeout": 5,
            "application_name": "encore-api",
            "options": SESSION_OPTIONS,
        },
        name="encore-api",
        open=True,
    )


def get_pool(request: Request) -> ConnectionPool:
    """The app's connection pool (a FastAPI dependency)."""
    return request.app.state.pool
