"""Top-20 lookup latency and throughput with pgbench, beside `pgbench -S` on the same server.

The custom script picks a random published user by an integer key (a lookup table of the
current publish's user ids, `bench_lookup.users`, built before the runs) and reads that
user's list the way clients do:

    \\set k random(1, <users>)
    select rank, track_key, score, reason from serving.recommendations
    where user_id = (select user_id from bench_lookup.users where k = :k)
    order by rank limit 20;

Both the custom script and the built-in select-only script (`-S`, over `pgbench -i` tables
at scale factor 1 in the same database) run as `recs_reader`, the role clients use, at each
client count with `-j` = min(clients, cores), one after the other. TPS comes from pgbench's
summary (excluding connection time); p50/p99 from its per-transaction log (`--log`), which
records every transaction's latency in microseconds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import psycopg

from bench.database import value
from config import subprocess_env
from warehouse.embedded import find_bin_dir
from warehouse.serving import READER_ROLE

LOOKUP_SCHEMA = "bench_lookup"
PGBENCH_SCALE = 1
CUSTOM = "top-20 lookup"
SELECT_ONLY = "pgbench -S"
_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)

SCRIPT = """\\set k random(1, {users})
select rank, track_key, score, reason from serving.recommendations
 where user_id = (select user_id from {schema}.users where k = :k)
 order by rank limit 20;
"""


@dataclass(frozen=True)
class LookupRun:
    """One pgbench run: which script, how many clients, and what it measured."""

    script: str
    clients: int
    threads: int
    seconds: int
    transactions: int
    failed: int
    tps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float


def pgbench_path() -> Path:
    """pgbench from the same PostgreSQL installation as the server's binaries."""
    bundled = find_bin_dir() / "pgbench"
    if bundled.exists():
        return bundled
    found = shutil.which("pgbench")
    if not found:
        raise FileNotFoundError("pgbench not found next to the PostgreSQL binaries or on PATH")
    return Path(found)


def _connection_args(url: str, user: str) -> tuple[list[str], dict[str, str]]:
    parts = urlsplit(url)
    args = [
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        user,
        parts.path.lstrip("/"),
    ]
    env = subprocess_env({"PGAPPNAME": "encore-bench"})
    if parts.password and user == unquote(parts.username or ""):
        env["PGPASSWORD"] = unquote(parts.password)
    return args, env


def prepare(database_url: str) -> int:
    """Build the user lookup table and pgbench's tables; grant both to the reader role.

    Returns the number of published users (the custom script's key range)."""
    pgbench = pgbench_path()
    args, env = _connection_args(database_url, unquote(urlsplit(database_url).username or ""))
    subprocess.run(
        [str(pgbench), "-i", "-q", "-s", str(PGBENCH_SCALE), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    with psycopg.connect(database_url) as conn:
        conn.execute(f"drop schema if exists {LOOKUP_SCHEMA} cascade")
        conn.execute(f"create schema {LOOKUP_SCHEMA}")
        conn.execute(f"""create table {LOOKUP_SCHEMA}.users as
            select (row_number() over (order by user_id))::int as k, user_id
            from (select distinct user_id from serving.recommendations) u""")  # noqa: S608
        conn.execute(f"alter table {LOOKUP_SCHEMA}.users add primary key (k)")
        conn.execute(f"analyze {LOOKUP_SCHEMA}.users")
        conn.execute(f"grant usage on schema {LOOKUP_SCHEMA} to {READER_ROLE}")
        conn.execute(f"grant select on {LOOKUP_SCHEMA}.users to {READER_ROLE}")
        conn.execute(
            "grant select on pgbench_accounts, pgbench_branches, pgbench_tellers, "
            f"pgbench_history to {READER_ROLE}"
        )
        users = value(conn, f"select count(*) from {LOOKUP_SCHEMA}.users")  # noqa: S608
    if not users:
        raise RuntimeError("serving.recommendations is empty: nothing to look up")
    return int(users)


def client_capacity(database_url: str) -> int:
    """How many more connections the server accepts now, keeping 5 spare for others."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        limit = int(value(conn, "show max_connections"))
        reserved = int(value(conn, "show superuser_reserved_connections"))
        in_use = int(
            value(
                conn, "select count(*) from pg_stat_activity where backend_type = 'client backend'"
            )
        )
    return max(1, limit - reserved - in_use - 5)


def run_pgbench(
    database_url: str, *, script: str, users: int, clients: int, seconds: int
) -> LookupRun:
    """One pgbench run of `script` (CUSTOM or SELECT_ONLY) as the reader role."""
    threads = max(1, min(clients, os.cpu_count() or 1))
    args, env = _connection_args(database_url, READER_ROLE)
    with tempfile.TemporaryDirectory(prefix="encore-pgbench-") as folder:
        work = Path(folder)
        if script == CUSTOM:
            script_file = work / "lookup.sql"
            script_file.write_text(SCRIPT.format(users=users, schema=LOOKUP_SCHEMA))
            mode = ["-f", str(script_file)]
        else:
            mode = ["-S"]
        mode.append("-n")  # no vacuum before the run (the reader role may not; -i did it)
        command = [
            str(pgbench_path()),
            *mode,
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(threads),
            "-T",
            str(seconds),
            "--log",
            f"--log-prefix={work / 'txn'}",
            *args,
        ]
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, cwd=work, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"pgbench failed ({' '.join(command[:-1])}):\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
        latencies = _read_latencies(work)
    tps_match = _TPS.search(done.stdout)
    failed_match = _FAILED.search(done.stdout)
    if not tps_match or latencies.size == 0:
        raise RuntimeError(f"pgbench output not understood:\n{done.stdout[-2000:]}")
    return LookupRun(
        script=script,
        clients=clients,
        threads=threads,
        seconds=seconds,
        transactions=int(latencies.size),
        failed=int(failed_match.group(1)) if failed_match else 0,
        tps=float(tps_match.group(1)),
        p50_ms=float(np.percentile(latencies, 50)) / 1000,
        p99_ms=float(np.percentile(latencies, 99)) / 1000,
        mean_ms=float(latencies.mean()) / 1000,
    )


def _read_latencies(folder: Path) -> np.ndarray:
    """Every successful transaction's latency (µs) from pgbench's per-transaction logs:
    `client_id transaction_no time script_no time_epoch time_us ...`, where `time` is
    "failed" or "skipped" for transactions that did not complete."""
    values: list[int] = []
    for path in folder.glob("txn.*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                values.append(int(fields[2]))
    return np.asarray(values, dtype=np.int64)


def measure(
    database_url: str, *, client_counts: list[int], seconds: int
) -> tuple[list[LookupRun], list[str]]:
    """Both scripts at each client count; returns the runs and notes (e.g. a capped count)."""
    users = prepare(database_url)
    capacity = client_capacity(database_url)
    notes: list[str] = []
    runs: list[LookupRun] = []
    for wanted in client_counts:
        clients = min(wanted, capacity)
        if clients < wanted:
            notes.append(f"{wanted} clients capped to {clients} (max_connections)")
        for script in (CUSTOM, SELECT_ONLY):
            runs.append(
                run_pgbench(
                    database_url, script=script, users=users, clients=clients, seconds=seconds
                )
            )
    return runs, notes
