"""Read-only connections for the API: as `recs_reader` by default, pooled, autocommit.

The URL is the warehouse's (warehouse.connections) with the user replaced by recs_reader and
no password, or `ENCORE_API_DATABASE_URL` when set (a server where recs_reader has a
password, or another read-only role). Every session is read-only with a statement timeout,
and every query is its own implicit transaction: the API never holds locks between requests.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
from psycopg.pq import TransactionStatus

from config import get_settings
from warehouse.serving import READER_ROLE

URL_ENV = "ENCORE_API_DATABASE_URL"
SESSION_OPTIONS = "-c default_transaction_read_only=on -c statement_timeout=5s"


def reader_url() -> str:
    """`ENCORE_API_DATABASE_URL`, else the warehouse URL as recs_reader (no password)."""
    override = get_settings().encore_api_database_url
    if override is not None:
        return override.get_secret_value()
    from warehouse.connections import warehouse_url

    parts = urlsplit(warehouse_url())
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{READER_ROLE}@{host}{port}").geturl()


class Pool:
    """At most `size` connections, reused; a broken one is dropped, not returned."""

    def __init__(self, url: str, size: int = 8, wait: float = 10.0) -> None:
        self.url = url
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._wait = wait

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=5,
            application_name="encore-api",
            options=SESSION_OPTIONS,
        )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if not self._slots.acquire(timeout=self._wait):
            raise psycopg.OperationalError("all database connections are busy")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
            yield conn
            if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
                raise psycopg.OperationalError("connection left in a bad state")
            self._idle.put(conn)
            conn = None
        finally:
            if conn is not None:
                conn.close()
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
