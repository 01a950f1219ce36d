"""The API on a real loopback port (uvicorn in a thread of the test process), for tests that
drive it with a browser."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from api.app import create_app
from ops.services import free_port


@contextlib.contextmanager
def serving(database_url: str) -> Iterator[str]:
    """`create_app(database_url)` served on 127.0.0.1 until the block ends; yields its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(database_url), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
