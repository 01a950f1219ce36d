"""`make docs` end to end: the site is generated and served by the same code, then opened in
headless Chromium like a person would: the lineage graph draws the project's nodes, and
fct_plays's page shows its description and columns.

dbt docs generate runs against the session's `loaded_warehouse` (raw tables only: the model
pages come from the manifest, the catalog just has fewer relations), into a temp target so
the project's own target/ is left alone. Screenshots land in `.encore/screenshots/`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops import docs_site
from ops.services import free_port, group_members, stop_service
from tests.support.browser import chromium_page, needs_chromium
from warehouse.paths import state_dir

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    needs_chromium,
]

MODEL = "model.encore.fct_plays"
WAIT_MS = 120_000  # generous: a loaded 2-core machine renders slowly; nothing here is timed
CY_NODES = (
    "() => { const el = document.querySelector('#cy');"
    " return el && el._cyreg && el._cyreg.cy ? el._cyreg.cy.nodes().length : 0 }"
)
CY_LABELS = "() => document.querySelector('#cy')._cyreg.cy.nodes().map(n => n.data('label'))"


@pytest.fixture(scope="module")
def site(
    loaded_warehouse: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[docs_site.DocsSite]:
    """`make docs`'s code path on a free port, with its pid file in a temp state folder."""
    scratch = tmp_path_factory.mktemp("docs_site")
    state = scratch / "state"
    state.mkdir()
    served = docs_site.generate_and_serve(
        port=free_port(), target_dir=scratch / "target", state=state
    )
    yield served
    assert stop_service(docs_site.service(state))
    assert group_members(served.pid) == []
    assert not docs_site.service(state).pid_file.exists()


@pytest.fixture(scope="module")
def manifest(site: docs_site.DocsSite) -> dict:
    return json.loads((site.directory / "manifest.json").read_text())


@pytest.fixture
def page(tmp_path: Path):
    with chromium_page(tmp_path / "chromium-profile") as browser_page:
        browser_page.set_default_timeout(WAIT_MS)
        yield browser_page


def _screenshot(page, name: str) -> Path:
    folder = state_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, "screenshot is blank or tiny"
    return path


def test_lineage_graph_renders(site: docs_site.DocsSite, manifest: dict, page) -> None:
    page.goto(f"{site.url}#!/overview?g_v=1")
    page.wait_for_selector("#cy canvas")
    page.wait_for_function(f"() => ({CY_NODES})() > 10")
    labels = set(page.evaluate(CY_LABELS))
    models = {
        node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"
    }
    assert {"fct_plays", "fct_first_plays", "user_recommendations"} <= labels
    assert models <= labels, sorted(models - labels)
    canvas = page.evaluate(
        "() => { const c = document.querySelector('#cy canvas'); return [c.width, c.height] }"
    )
    assert min(canvas) > 100, canvas
    _screenshot(page, "dbt_docs_lineage.png")


def test_model_page_shows_description_and_columns(
    site: docs_site.DocsSite, manifest: dict, page
) -> None:
    node = manifest["nodes"][MODEL]
    assert node["description"] and node["columns"], "fct_plays lost its documentation"
    page.goto(f"{site.url}#!/model/{MODEL}")
    page.get_by_text("Columns", exact=True).first.wait_for()
    first_sentence = node["description"].split(".")[0]
    page.get_by_text(first_sentence).first.wait_for()
    body = page.inner_text("body")
    assert "fct_plays" in body
    for column, spec in node["columns"].items():
        assert column in body, column
        if spec.get("description"):
            assert spec["description"].split("`")[0].strip() in body, column
    _screenshot(page, "dbt_docs_fct_plays.png")
