"""The HTTP endpoint against the real warehouse, connected as recs_reader."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.db import reader_url
from ml.publish import publish
from ops.services import free_port
from tests.integration.test_serving import USERS, seed_serving_world
from tests.integration.test_serving import reader_url as as_reader
from warehouse import embedded
from warehouse.bootstrap import bootstrap

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_db(module_warehouse_url: str) -> str:
    with psycopg.connect(module_warehouse_url) as conn:
        seed_serving_world(conn, versions=("m1",))
        publish(conn, model_version="m1", top_n=20)
    return module_warehouse_url


@pytest.fixture(scope="module")
def client(api_db: str) -> Iterator[TestClient]:
    url = as_reader(api_db)
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"cannot connect as recs_reader here (set ENCORE_API_DATABASE_URL): {exc}")
    with TestClient(create_app(url)) as test_client:
        yield test_client


def test_recommendations_for_a_user(client, api_db) -> None:
    response = client.get("/recommendations/u00007")
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == "u00007"
    assert body["model_version"] == "m1"
    assert body["generated_at"]
    # The list is as of the listener's own clock (marts.fct_candidate_features.as_of).
    with psycopg.connect(api_db) as conn:
        (clock,) = conn.execute(
            "select max(as_of) from marts.fct_candidate_features where user_id = 'u00007'"
        ).fetchone()
    assert datetime.fromisoformat(body["as_of"]) == clock
    items = body["items"]
    assert [item["rank"] for item in items] == list(range(1, 21))
    assert all(item["track_name"] and item["reason"] for item in items)
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    limited = client.get("/recommendations/u00007", params={"limit": 5}).json()
    assert limited["items"] == items[:5]


def test_unknown_user_is_404(client) -> None:
    response = client.get("/recommendations/nobody_here")
    assert response.status_code == 404
    assert "nobody_here" in response.json()["detail"]
    assert "m1" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/recommendations/u00007?limit=0",
        "/recommendations/u00007?limit=101",
        "/recommendations/u00007?limit=ten",
        "/recommendations/" + "u" * 129,
        "/recommendations/bad%20id",
        "/recommendations/x'%3Bdrop",
    ],
)
def test_bad_input_is_422(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_health_docs_and_openapi(client) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["database_role"] == "recs_reader"  # least privilege
    assert health["model_version"] == "m1"
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/recommendations/{user_id}"]["get"]
    assert {"200", "404", "422"} <= set(operation["responses"])
    body = spec["components"]["schemas"]["UserRecommendations"]
    assert {"as_of", "generated_at"} <= set(body["required"])
    assert body["properties"]["as_of"]["format"] == "date-time"
    assert client.get("/docs").status_code == 200


def test_unreachable_database_is_503() -> None:
    app = create_app("postgresql://recs_reader@127.0.0.1:1/nowhere")
    with TestClient(app) as client:
        assert client.get("/health").status_code == 503
        assert client.get("/recommendations/u00001").status_code == 503


def test_reader_url_derives_from_the_warehouse(monkeypatch) -> None:
    monkeypatch.delenv("ENCORE_API_DATABASE_URL", raising=False)
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://owner:secret@db.example:6543/encore")
    assert reader_url() == "postgresql://recs_reader@db.example:6543/encore"
    monkeypatch.setenv("ENCORE_API_DATABASE_URL", "postgresql://reader:pw@h/d")
    assert reader_url() == "postgresql://reader:pw@h/d"


def test_many_users(client) -> None:
    for n in range(1, USERS + 1, 97):
        assert client.get(f"/recommendations/u{n:05d}", params={"limit": 3}).status_code == 200


def test_a_warehouse_restart_fails_at_most_the_first_request(tmp_path: Path) -> None:
    """A PostgreSQL server of this test's own (restarting the shared one would pull it from
    under the other tests), bootstrapped and published like the warehouse; the API keeps
    serving across a restart: the pool checks each connection before a request gets it."""
    srv = embedded.server(root=tmp_path / "postgres", port=free_port())
    embedded.start(srv)
    try:
        with psycopg.connect(srv.url) as conn:
            bootstrap(conn)
            seed_serving_world(conn, versions=("m1",))
            publish(conn, model_version="m1", top_n=20)
        with TestClient(create_app(as_reader(srv.url), pool_size=4)) as client:
            # several connections in the pool at once, all left stale by the restart
            with ThreadPoolExecutor(8) as workers:
                paths = [f"/recommendations/u{n:05d}" for n in range(1, 33)]
                assert {r.status_code for r in workers.map(client.get, paths)} == {200}
            assert client.app.state.pool.get_stats()["pool_size"] >= 2
            embedded.stop(srv)
            assert client.get("/recommendations/u00001").status_code == 503  # it is down
            embedded.start(srv)
            codes = [client.get(f"/recommendations/u{n:05d}").status_code for n in range(1, 21)]
            assert codes[0] in (200, 503), codes
            assert codes[1:] == [200] * 19, codes
            assert client.get("/health").json()["status"] == "ok"
    finally:
        embedded.stop(srv)
