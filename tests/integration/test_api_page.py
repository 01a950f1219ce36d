"""The recommendations page (`GET /`, `GET /listeners/{user_id}`) on the small world, built
by dbt, trained, scored and published for real, read as recs_reader; and in headless
Chromium, with a screenshot in `.encore/screenshots/`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.integration.test_serving import reader_url as as_reader
from tests.support.api_server import serving
from tests.support.browser import chromium_page, needs_chromium
from tests.support.marts import load_and_build, train_score_publish
from warehouse.paths import state_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def published(
    module_warehouse_url: str, small_world_config, tmp_path_factory: pytest.TempPathFactory
) -> str:
    load_and_build(module_warehouse_url, small_world_config, tmp_path_factory.mktemp("dbt-page"))
    train_score_publish(module_warehouse_url, tmp_path_factory.mktemp("page-artifacts"))
    return module_warehouse_url


@pytest.fixture(scope="module")
def client(published: str) -> Iterator[TestClient]:
    with TestClient(create_app(as_reader(published))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def listener(published: str) -> tuple[str, str, list[str]]:
    """The most active listener with a list: (user_id, username, their reasons by rank)."""
    with psycopg.connect(published) as conn:
        row = conn.execute(
            "select l.user_id, l.username from serving.listeners l "
            "where l.username is not null and exists (select 1 from serving.recommendations r "
            "where r.user_id = l.user_id) order by l.plays_30d desc, l.user_id limit 1"
        ).fetchone()
        assert row is not None
        reasons = [
            reason
            for (reason,) in conn.execute(
                "select reason from serving.recommendations where user_id = %s order by rank",
                [row[0]],
            )
        ]
    return row[0], row[1], reasons


def test_index_lists_the_most_active_listeners(client, listener) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "The most active listeners" in response.text
    assert f'href="/listeners/{listener[0]}"' in response.text
    assert re.search(r"Model \S+, published \d{4}-\d\d-\d\d", response.text)


def test_search_by_part_of_a_name_in_any_case(client, listener) -> None:
    user_id, username, _ = listener
    part = username.split()[-1][1:5].upper()
    response = client.get("/", params={"q": part})
    assert response.status_code == 200
    assert f'href="/listeners/{user_id}"' in response.text
    # LIKE's wildcards are matched literally
    wildcard = client.get("/", params={"q": "%"})
    assert "No listener matches" in wildcard.text
    assert client.get("/", params={"q": user_id}).text.count(f'href="/listeners/{user_id}"') == 1


def _escaped(text: str) -> str:
    """`text` as Jinja's autoescape (markupsafe) writes it into HTML."""
    for raw, entity in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("'", "&#39;"),
        ('"', "&#34;"),
    ):
        text = text.replace(raw, entity)
    return text


def test_listener_page_shows_the_list_reasons_and_their_month(client, listener) -> None:
    user_id, username, reasons = listener
    response = client.get(f"/listeners/{user_id}")
    assert response.status_code == 200
    page = response.text
    assert username in page and "list as of" in page
    assert len(reasons) == 20
    table = page.split("to play again", 1)[1]
    assert table.count("<tr>") == 21  # the header and 20 tracks
    for reason in reasons:  # as Jinja escapes it (a genre such as "R&b" holds an "&")
        assert _escaped(reason) in page
    assert 30 <= page.count("<rect") <= 31  # a bar per day the 30 days up to the clock touch
    assert re.search(r"Model \S+, published", page)


def test_unknown_listener_gets_a_friendly_page(client) -> None:
    response = client.get("/listeners/nobody_here")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "No such listener" in response.text and "nobody_here" in response.text
    assert "Traceback" not in response.text


@pytest.fixture(scope="module")
def served(published: str) -> Iterator[str]:
    with serving(as_reader(published)) as url:
        yield url


@needs_chromium
def test_a_person_finds_a_listener_and_sees_their_list(served, listener, tmp_path: Path) -> None:
    user_id, username, reasons = listener
    folder = state_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / "recommendations_page.png"
    with chromium_page(tmp_path / "chromium-profile", viewport=(1280, 1400)) as page:
        page.goto(served + "/", wait_until="load")
        page.fill("input[name=q]", username.split()[-1])
        page.click("button[type=submit]")
        page.click(f'a[href="/listeners/{user_id}"]')
        page.wait_for_url(f"**/listeners/{user_id}")
        page.screenshot(path=str(shot), full_page=True)  # before the checks: the evidence
        assert shot.stat().st_size > 20_000, "screenshot is blank or tiny"
        assert page.locator("h1").inner_text() == username
        assert page.locator("table tr").count() == 21
        assert 30 <= page.locator("svg rect").count() <= 31
        assert page.get_by_text(reasons[0]).first.is_visible()
