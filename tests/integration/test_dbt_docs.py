"""`dbt docs generate` on the loaded test warehouse, and the lineage the docs site shows.

Uses the session's `loaded_warehouse` (tests/conftest.py). The catalog needs the relations:
when `tests/integration/test_dbt_build.py` already built them in this session they are
reused, else the project is built first with its `run_dbt_build`. dbt runs in-process
(dbtRunner) with target/ and logs/ in a temp folder, like test_dbt_build.

What is checked, from the generated manifest.json and catalog.json:
- the exposures `ml_recommender` (type ml, owner "Encore ML") and `recommendation_readers`
  (type application) exist with the dependencies of models/exposures.yml;
- there is a lineage path from the source `raw.synthetic_plays` to the ML exposure;
- there is a path from every mart the ML job reads to `user_recommendations` and its
  readers: dbt's child_map up to the ML exposure, then the `serving` sources that exposure
  lists (the tables ml/ publishes; dbt only knows "depends on"), then child_map again;
- the catalog has the marts' columns, with the descriptions persisted as comments.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import psycopg
import pytest

from tests.integration.test_dbt_build import run_dbt_build
from tests.support.marts import run_dbt

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ML = "exposure.encore.ml_recommender"
READERS = "exposure.encore.recommendation_readers"
RECOMMENDATIONS = "source.encore.serving.recommendations"
SERVING_VIEW = "model.encore.user_recommendations"
ML_MARTS = ["fct_pair_features", "fct_candidate_features", "fct_plays", "dim_tracks"]
MARTS = [*ML_MARTS, "fct_sessions", "dim_users", "dim_artists", "fct_first_plays"]


def _built(url: str) -> bool:
    """Every relation the catalog should describe exists (a previous build this session)."""
    relations = [f"marts.{mart}" for mart in MARTS] + ["serving.user_recommendations"]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select count(to_regclass(name)) from unnest(%s::text[]) as name", [relations])
        (found,) = cur.fetchone()
    return found == len(relations)


def run_dbt_docs_generate(warehouse_url: str, scratch: Path) -> Path:
    """`dbt docs generate` against `warehouse_url`, in-process; returns its target folder."""
    run_dbt(warehouse_url, scratch, "docs", "generate")
    return scratch / "target"


@pytest.fixture(scope="module")
def docs_target(loaded_warehouse: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    scratch = tmp_path_factory.mktemp("dbt_docs")
    if not _built(loaded_warehouse):
        run_dbt_build(loaded_warehouse, scratch / "build")
    return run_dbt_docs_generate(loaded_warehouse, scratch / "docs")


@pytest.fixture(scope="module")
def manifest(docs_target: Path) -> dict:
    return json.loads((docs_target / "manifest.json").read_text())


@pytest.fixture(scope="module")
def catalog(docs_target: Path) -> dict:
    return json.loads((docs_target / "catalog.json").read_text())


def _path(edges: dict[str, list[str]], start: str, goal: str) -> list[str] | None:
    """Shortest path from `start` to `goal` following `edges` (breadth-first), or None."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while previous[path[-1]] is not None:
                path.append(previous[path[-1]])
            return path[::-1]
        for child in edges.get(node, []):
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return None


def test_exposures_exist(manifest: dict) -> None:
    exposures = manifest["exposures"]
    assert {ML, READERS} <= set(exposures), sorted(exposures)

    ml = exposures[ML]
    assert ml["type"] == "ml"
    assert ml["owner"]["name"] == "Encore ML"
    assert set(ml["depends_on"]["nodes"]) == {
        *(f"model.encore.{mart}" for mart in ML_MARTS),
        RECOMMENDATIONS,
        "source.encore.serving.tracks",
    }

    readers = exposures[READERS]
    assert readers["type"] == "application"
    assert readers["depends_on"]["nodes"] == [SERVING_VIEW]
    assert ml["description"] and readers["description"]


def test_lineage_runs_from_raw_to_the_ml_job(manifest: dict) -> None:
    children = manifest["child_map"]
    path = _path(children, "source.encore.raw.synthetic_plays", ML)
    assert path is not None, "no lineage from raw.synthetic_plays to the ML exposure"
    # and through the label and the training rows: raw plays -> first plays -> features -> ML
    labels = "model.encore.int_first_plays"
    features = "model.encore.fct_pair_features"
    for start, goal in [("source.encore.raw.synthetic_plays", labels), (labels, features)]:
        assert _path(children, start, goal) is not None, f"no lineage from {start} to {goal}"
    assert ML in children["model.encore.fct_pair_features"]


@pytest.mark.parametrize("mart", ML_MARTS)
def test_lineage_runs_from_the_marts_to_user_recommendations(manifest: dict, mart: str) -> None:
    # dbt's graph ends at an exposure; the ML exposure's `serving` sources are the tables it
    # writes, so they continue the lineage.
    writes = [node for node in manifest["parent_map"][ML] if node.startswith("source.")]
    assert RECOMMENDATIONS in writes
    edges = {**manifest["child_map"], ML: writes}

    path = _path(edges, f"model.encore.{mart}", READERS)
    assert path is not None, f"no lineage from {mart} to the recommendation readers"
    assert path[1:] == [ML, RECOMMENDATIONS, SERVING_VIEW, READERS], path
    # and the view itself reads only serving: no direct mart dependency to break it
    assert manifest["parent_map"][SERVING_VIEW] == sorted(
        [RECOMMENDATIONS, "source.encore.serving.tracks"]
    )


def test_catalog_documents_the_marts(manifest: dict, catalog: dict) -> None:
    for mart in MARTS:
        unique_id = f"model.encore.{mart}"
        assert unique_id in catalog["nodes"], f"{mart} missing from the catalog"
        catalog_columns = catalog["nodes"][unique_id]["columns"]
        documented = {
            name: column["description"]
            for name, column in manifest["nodes"][unique_id]["columns"].items()
            if column["description"]
        }
        assert documented, f"{mart} has no column descriptions"
        assert set(documented) <= set(catalog_columns), (
            mart,
            set(documented) - set(catalog_columns),
        )
        for name, description in documented.items():
            # persist_docs writes the descriptions as column comments
            assert (catalog_columns[name]["comment"] or "").strip() == description.strip(), (
                mart,
                name,
            )
        assert catalog["nodes"][unique_id]["metadata"]["comment"], f"{mart}: no table comment"


def test_overview_describes_the_flow(manifest: dict) -> None:
    overview = manifest["docs"]["doc.encore.__overview__"]["block_contents"]
    for term in ["serving.recommendations", "user_recommendations", "point-in-time", "censor"]:
        assert term in overview, term
