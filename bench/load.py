"""`python -m bench.load api|sql ...`: many concurrent clients asking for a random
listener's top 20, over HTTP (`GET /recommendations/{user_id}`) or as SQL clients (through
PgBouncer); prints one JSON line of measurements.

Paced (open loop, the default): `--clients` clients, each holding its connection open and
asking every `--interval` seconds (each client's first request at a random phase of the
interval), for `--seconds`. A request's latency runs from when it was due, not from when it
was sent, so a server that falls behind shows it in the percentiles (no coordinated
omission). `--closed`: as fast as possible, the next request when the last one answered (the
saturation throughput). The generator runs in a process of its own, so its CPU time is its
own: it shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar
from urllib.parse import quote, urlsplit

import numpy as np
import psycopg

TOP_20 = (
    "select rank, track_key, score, reason, model_version, generated_at, as_of "
    "from serving.recommendations where user_id = %s order by rank limit 20"
)
T = TypeVar("T")
CONNECT_BATCH = 50  # clients connecting at once before the measured window


@dataclass(frozen=True)
class LoadRun:
    target: str  # "api" or "sql (pgbouncer)"
    mode: str  # "paced" or "closed"
    clients: int
    seconds: float
    requests: int
    errors: int
    achieved_rps: float
    target_rps: float | None  # paced: clients / interval
    p50_ms: float
    p99_ms: float
    max_ms: float
    over_2s: int
    generator_cpu_cores: float  # the generator's CPU seconds / wall seconds


Ask = Callable[[int, str], Awaitable[bool]]


async def _run_clients(
    ask: Ask, users: Sequence[str], clients: int, seconds: float, interval: float | None
) -> tuple[list[float], int]:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    end = start + seconds
    latencies: list[float] = []
    errors = 0

    async def client(n: int) -> None:
        nonlocal errors
        rng = random.Random(n)
        due = start + (rng.uniform(0, interval) if interval else 0.0)
        while due < end:
            await asyncio.sleep(max(0.0, due - loop.time()))
            sent = loop.time() if interval is None else due
            try:
                ok = await ask(n, rng.choice(users))
            except Exception:
                ok = False
            done = loop.time()
            latencies.append(done - sent)
            errors += not ok
            due = due + interval if interval else done

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies, errors


class _HttpConnection:
    """One client's own keep-alive HTTP/1.1 connection (a bare asyncio stream: a pooled
    client library spends more CPU choosing a connection than sending on it)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, base_url: str) -> _HttpConnection:
        parts = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        return cls(reader, writer, parts.netloc)

    async def get(self, path: str) -> int:
        """The response's status; its body is read and dropped."""
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def _open_all(count: int, connect: Callable[[], Awaitable[T]]) -> list[T]:
    """`count` connections, `CONNECT_BATCH` at a time, before the measured window."""
    connections: list[T] = []
    for first in range(0, count, CONNECT_BATCH):
        batch = min(CONNECT_BATCH, count - first)
        connections += await asyncio.gather(*(connect() for _ in range(batch)))
    return connections


async def _api(args: argparse.Namespace, users: list[str]) -> tuple[list[float], int]:
    connections = await _open_all(args.clients, lambda: _HttpConnection.open(args.url))
    try:

        async def ask(n: int, user: str) -> bool:
            return await connections[n].get(f"/recommendations/{quote(user)}") == 200

        return await _run_clients(ask, users, args.clients, args.seconds, args.interval)
    finally:
        await asyncio.gather(*(conn.close() for conn in connections), return_exceptions=True)


async def _sql(args: argparse.Namespace, users: list[str]) -> tuple[list[float], int]:
    connections = await _open_all(
        args.clients,
        lambda: psycopg.AsyncConnection.connect(
            args.url, autocommit=True, prepare_threshold=None, connect_timeout=30
        ),
    )
    try:

        async def ask(n: int, user: str) -> bool:
            cursor = await connections[n].execute(TOP_20, [user])
            return bool(await cursor.fetchall())

        return await _run_clients(ask, users, args.clients, args.seconds, args.interval)
    finally:
        await asyncio.gather(*(conn.close() for conn in connections), return_exceptions=True)


def _users(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [
            user for (user,) in conn.execute("select distinct user_id from serving.recommendations")
        ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("target", choices=("api", "sql"))
    parser.add_argument("--url", required=True, help="the API's base URL, or the pooler's")
    parser.add_argument("--users-from", required=True, help="a database URL to list users")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=2.0, help="paced: seconds between asks")
    parser.add_argument("--closed", action="store_true", help="as fast as possible instead")
    args = parser.parse_args(argv)
    if args.closed:
        args.interval = None
    users = _users(args.users_from)
    started, cpu = time.monotonic(), time.process_time()
    run = _api if args.target == "api" else _sql
    latencies, errors = asyncio.run(run(args, users))
    wall = time.monotonic() - started
    ms = np.array(latencies) * 1000.0
    result = LoadRun(
        target="api" if args.target == "api" else "sql (pgbouncer)",
        mode="closed" if args.closed else "paced",
        clients=args.clients,
        seconds=args.seconds,
        requests=len(latencies),
        errors=errors,
        achieved_rps=len(latencies) / args.seconds,
        target_rps=None if args.closed else args.clients / args.interval,
        p50_ms=float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        p99_ms=float(np.percentile(ms, 99)) if len(ms) else float("nan"),
        max_ms=float(ms.max()) if len(ms) else float("nan"),
        over_2s=int((ms > 2000).sum()),
        generator_cpu_cores=(time.process_time() - cpu) / wall,
    )
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
