"""PgBouncer (`make pooler`, ops/pooler.py) in front of a real warehouse: recs_reader only,
`serving` only, and many clients on a few server connections."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ml.publish import publish
from ops import pooler
from ops.services import free_port, stop_service
from tests.integration.test_serving import seed_serving_world

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("pgbouncer", path="/usr/sbin:/usr/bin") is None,
        reason="pgbouncer not installed (`make pgbouncer` installs Debian's)",
    ),
]

CLIENTS = 300


@pytest.fixture(scope="module")
def running(
    module_warehouse_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[pooler.Pooler]:
    with psycopg.connect(module_warehouse_url) as conn:
        seed_serving_world(conn, versions=("m1",))
        publish(conn, model_version="m1", top_n=20)
    state = tmp_path_factory.mktemp("pooler-state")
    server = pooler.start(port=free_port(), state=state, upstream=module_warehouse_url)
    yield server
    stop_service(pooler.service(state))


def test_recs_reader_reads_serving_and_nothing_else(running, module_warehouse_url) -> None:
    with psycopg.connect(running.url, prepare_threshold=None) as conn:
        role, rows = conn.execute(
            "select current_user, count(*) from serving.recommendations"
        ).fetchone()
        assert (role, rows > 0) == ("recs_reader", True)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from marts.fct_candidate_features")
    owner = running.url.replace("recs_reader@", "encore@")
    with pytest.raises(psycopg.OperationalError, match=r"authentication|not allowed|no such user"):
        psycopg.connect(owner, connect_timeout=5).close()


def test_a_second_start_reuses_the_running_pooler(running, module_warehouse_url) -> None:
    state = Path(running.log_file).parent
    port = int(running.url.rsplit(":", 1)[1].split("/")[0])
    again = pooler.start(port=port, state=state, upstream=module_warehouse_url)
    assert (again.reused, again.pid) == (True, running.pid)


def test_many_clients_share_a_few_server_connections(running, module_warehouse_url) -> None:
    database = module_warehouse_url.rsplit("/", 1)[1]

    async def clients() -> tuple[int, int]:
        connections = [
            await psycopg.AsyncConnection.connect(
                running.url, prepare_threshold=None, autocommit=True
            )
            for _ in range(CLIENTS)
        ]
        try:

            async def ask(conn: psycopg.AsyncConnection, n: int) -> int:
                cursor = await conn.execute(
                    "select count(*) from serving.recommendations where user_id = %s",
                    [f"u{1 + n % 300:05d}"],
                )
                row = await cursor.fetchone()
                assert row is not None
                return row[0]

            answers = await asyncio.gather(*(ask(c, n) for n, c in enumerate(connections)))
            with psycopg.connect(module_warehouse_url) as admin:
                (servers,) = admin.execute(
                    "select count(*) from pg_stat_activity "
                    "where datname = %s and usename = 'recs_reader'",
                    [database],
                ).fetchone()
            return sum(1 for a in answers if a == 20), servers
        finally:
            for conn in connections:
                await conn.close()

    full_lists, servers = asyncio.run(clients())
    assert full_lists == CLIENTS  # every client got its answer (a list of 20)
    assert 1 <= servers <= pooler.SERVER_CONNECTIONS, servers
