"""Which ranking publishes the lists: the rules, their calibration into probabilities, the
choice on cut-offs before the graded one, and what a model folder says it uses."""

from __future__ import annotations

import numpy as np
import polars as pl

from ml import list_model, rankers
from tests.unit.test_list_model import outcomes


def test_recent_plays_ties_are_broken_by_popularity() -> None:
    frame = pl.DataFrame(
        {"user_track_plays_30d": [3.0, 3.0, 5.0, 0.0], "track_prior_plays": [10.0, 500.0, 1.0, 1e9]}
    )
    scores = rankers.rule_scores(frame, rankers.RECENT_PLAYS)
    assert list(np.argsort(-scores)) == [2, 1, 0, 3]


def test_calibration_is_a_probability_that_keeps_the_rules_order() -> None:
    rng = np.random.default_rng(1)
    raw = rng.gamma(1.0, 3.0, 5000)
    labels = (rng.uniform(size=5000) < raw / (raw + 3)).astype(float)
    calibration = rankers.Calibration.fit(raw, labels)
    probe = np.sort(rng.gamma(1.0, 3.0, 1000))
    probabilities = calibration.apply(probe)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert (np.diff(probabilities) > 0).all()  # strictly: publish ranks follow the rule
    assert probabilities[-1] > probabilities[0] + 0.3


def test_the_choice_is_the_best_ranking_of_the_earlier_cutoffs() -> None:
    frame = outcomes()
    choice = rankers.choose(frame, list_params=None)
    assert set(choice["contenders"]) == set(rankers.RULES)
    best = max(choice["contenders"], key=lambda name: choice["contenders"][name])
    assert choice["ranker"] == best and choice["choice_cutoffs"] == [2, 3]
    assert "calibration" in choice
    params = list_model.base_params() | list_model.SEARCH_GRID[0]
    with_model = rankers.choose(frame, list_params=params)
    assert rankers.LIST_MODEL in with_model["contenders"]


def test_without_past_cutoffs_the_repeat_model_ranks() -> None:
    empty = outcomes().head(0)
    assert rankers.choose(empty, list_params=None)["ranker"] == rankers.REPEAT_MODEL


def test_too_few_listeners_to_choose_on_means_the_default(tmp_path) -> None:
    few = outcomes(n_users=2)
    choice = rankers.choose(few, list_params=None)
    assert choice["ranker"] == rankers.DEFAULT_RULE and choice["contenders"] == {}
    rankers.save_choice(tmp_path, choice)
    assert rankers.load_choice(tmp_path)["ranker"] == rankers.DEFAULT_RULE
    probabilities = rankers.rule_probability(few, rankers.load_choice(tmp_path))
    assert probabilities.shape == (few.height,)


def test_a_folder_from_before_choices_says_what_ranks_it(tmp_path) -> None:
    assert rankers.load_choice(tmp_path)["ranker"] == rankers.REPEAT_MODEL
    (tmp_path / list_model.MODEL_FILE).write_text("trees")
    assert rankers.load_choice(tmp_path)["ranker"] == rankers.LIST_MODEL


def test_rule_reasons_say_the_listeners_history_first() -> None:
    names, contributions = rankers.rule_contributions(pl.DataFrame({"x": [1, 2]}))
    assert names[0] == "user_track_plays_30d" and contributions.shape == (2, len(names))
    assert (np.diff(contributions[0]) <= 0).all()


def test_a_rule_reads_the_columns_of_its_score_tiebreak_and_reasons() -> None:
    columns = rankers.rule_columns(rankers.DEFAULT_RULE)
    frame = pl.DataFrame({name: [1.0, 2.0] for name in columns if not name.startswith("source_")})
    assert rankers.rule_scores(frame, rankers.DEFAULT_RULE).shape == (2,)  # nothing else read
    assert {"user_track_plays_decayed_30d", "track_prior_plays", "user_track_plays_30d"} <= columns
