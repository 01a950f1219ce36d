"""The candidate generators and the feature columns are declared once, as dbt vars
(dbt_project.yml): the models, the yml tests, ml/ and the reason templates all agree with
them. Adding a generator = one model `int_candidates_<name>`, one entry in
`candidate_generators`, one reason template (or an explicit None) in ml/score.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ml import features, list_model, score
from warehouse.dbt_project import dbt_var
from warehouse.paths import dbt_project_dir

CANDIDATES = dbt_project_dir() / "models" / "intermediate" / "candidates"
ACCEPTED_SOURCES = "{{ var('candidate_generators') + ['popular'] }}"


def _yml_models() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted((dbt_project_dir() / "models").rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            yield path, model


def test_every_generator_is_one_model_and_an_input_of_the_list_model() -> None:
    generators = dbt_var("candidate_generators")
    described = {model["name"] for _, model in _yml_models()}
    for generator in generators:
        assert (CANDIDATES / f"int_candidates_{generator}.sql").exists(), generator
        assert f"int_candidates_{generator}" in described, generator
    assert (*generators, "popular") == list_model.SOURCES
    assert {f"source_{name}" for name in list_model.SOURCES} <= set(list_model.ALL_FEATURES)


def test_every_source_and_list_feature_has_a_reason_template_or_none() -> None:
    missing = [name for name in list_model.ALL_FEATURES if name not in score.REASON_TEMPLATES]
    assert not missing, f"add a template (or None) to ml/score.py REASON_TEMPLATES: {missing}"


def test_candidate_source_accepts_exactly_the_declared_generators() -> None:
    checked = 0
    for path, model in _yml_models():
        for column in model.get("columns", []):
            if column["name"] != "candidate_source":
                continue
            for test in column.get("data_tests", []):
                if isinstance(test, dict) and "accepted_values" in test:
                    values = test["accepted_values"]["arguments"]["values"]
                    assert values == ACCEPTED_SOURCES, (path.name, model["name"], values)
                    checked += 1
    assert checked >= 2


def test_the_feature_lists_are_the_dbt_vars() -> None:
    history = dbt_var("history_features")
    assert features.NUMERIC_FEATURES[: len(history)] == tuple(history)
    assert list_model.HISTORY_FEATURES[: len(dbt_var("list_history_features"))] == tuple(
        dbt_var("list_history_features")
    )
    assert list_model.HISTORY_FEATURES[-len(dbt_var("list_rank_features")) :] == tuple(
        dbt_var("list_rank_features")
    )
    assert len(set(features.FEATURES)) == len(features.FEATURES)
    assert len(set(list_model.ALL_FEATURES)) == len(list_model.ALL_FEATURES)
