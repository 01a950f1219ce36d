"""A local fakesnow server (Snowflake's HTTP protocol on DuckDB) for the offline tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
