"""`python -m ml backtest`: grade the lists a model version would have published, as of each
listener's own past cut-off (docs/model.md, "The published lists").

1. Cut-off T of a listener = their clock minus 30 days (cut-off 1 of
   marts.fct_candidate_outcomes): the same dbt build made their candidates of T with the
   features as of T, so nothing is rebuilt. Histories that end in different years are
   graded each at their own T.
2. Each ranking orders every listener's candidates of T; the list is its top k (20), ties
   by track key, as ml.publish ranks. The rankings: the list model cross-fitted by listener
   (each listener's list comes from a list model fitted without that listener's labels of
   that period: ml.list_model.cross_fitted_scores), the recency rules (ml.rankers, among
   them "the user's recent plays", the baseline DESIGN.md names), the repeat model, its
   logistic regression, popularity and the track repeat rate; `published` is the one the
   version ranks its lists with (ml.rankers: chosen on cut-off 2, so this grade is honest).
3. Relevant tracks of a listener: the tracks they played in (T, T + 30 days] that they had
   already played by T (a repeat), from marts.fct_plays; those that were not candidates
   count too (candidate coverage: recall's ceiling). DESIGN.md's variant (played at least
   twice in the horizon, new or not) is reported under `rankings_two_plays`.
4. recall@k / NDCG@k / precision@k (ml.ranking) are means over the listeners with a list
   and a relevant track; per-listener NDCG of the published ranking and the recent plays
   is kept for the plot. Results: backtest.json / .md / .png in the model's folder and a
   row of `ml.backtests`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psycopg
from psycopg.types.json import Jsonb

from ml import list_model, rankers, ranking
from ml.artifacts import load_model
from ml.db import MARTS, read_frame
from ml.report import backtest_section, plot_backtest, plot_listeners
from ml.runs import finite, latest_version
from warehouse.bulk import Select

log = logging.getLogger(__name__)

PLAYS = Select(
    MARTS,
    "fct_plays",
    {"user_id": pl.String(), "track_key": pl.String(), "played_at": pl.Datetime("us", "UTC")},
)

HORIZON_DAYS = 30
_BACKTESTS_DDL = """
create table if not exists ml.backtests (
    backtest_id uuid primary key,
    created_at timestamptz not null default now(),
    model_version text not null,
    cutoff timestamptz not null,
    horizon_days integer not null,
    k integer not null,
    align_users boolean not null,
    metrics jsonb not null,
    report_path text
)
"""


def backtest(
    conn: psycopg.Connection,
    *,
    artifacts_dir: Path,
    model_version: str | None = None,
    cutoff: int = 1,
    k: int = ranking.DEFAULT_K,
    record: bool = True,
    outcomes: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Grade `model_version`'s rankings (default: the latest succeeded run) at each
    listener's cut-off `cutoff` (the module docstring); return the result, also written
    beside the model and, with `record`, into ml.backtests. `outcomes`: the past cut-offs'
    candidates when the caller has read them already (ml.list_model.read_outcomes)."""
    started = time.perf_counter()
    if model_version is None:
        with conn.transaction():
            model_version = latest_version(conn)
    folder = Path(artifacts_dir) / model_version
    model = load_model(artifacts_dir, model_version)
    choice = rankers.load_choice(folder)
    if outcomes is None:
        outcomes = list_model.read_outcomes(conn)
    graded = outcomes.filter(pl.col(list_model.CUTOFF) == cutoff)
    if graded.height == 0:
        raise ValueError(
            f"no listener was active at cut-off {cutoff} (their clock minus "
            f"{30 * cutoff} days): nothing to grade"
        )
    scores = _scores(graded, outcomes, model, folder, cutoff)
    published = choice["ranker"] if choice["ranker"] in scores else rankers.REPEAT_MODEL
    scores["published"] = scores[published]
    with conn.transaction():
        relevant, relevant_two = relevant_pairs(conn, graded)
    frame = graded.select("user_id", "track_key").with_columns(
        pl.Series(name, values, dtype=pl.Float64) for name, values in scores.items()
    )
    result = _grade(frame, relevant, relevant_two, k, published)
    as_of = graded["as_of"] if "as_of" in graded.columns else None
    result |= {
        "model_version": model_version,
        "published_ranking": published,
        "choice": {key: choice.get(key) for key in ("ranker", "reason", "contenders")},
        "cutoff_number": cutoff,
        "cutoff": None if as_of is None else str(as_of.max()),
        "cutoff_range": None if as_of is None else [str(as_of.min()), str(as_of.max())],
        "horizon_days": HORIZON_DAYS,
        "k": k,
        "candidates": graded.height,
        "seconds": round(time.perf_counter() - started, 1),
    }
    _write(conn, folder, result, record=record)
    log.info(
        "backtest %s at cut-off %d: %s",
        model_version,
        cutoff,
        json.dumps(
            {
                name: round(row[f"ndcg_at_{k}"], 4)
                for name, row in result["rankings"].items()
                if row.get(f"ndcg_at_{k}") is not None
            }
        ),
    )
    return result


def _scores(
    graded: pl.DataFrame, outcomes: pl.DataFrame, model: Any, folder: Path, cutoff: int
) -> dict[str, np.ndarray]:
    """Every ranking's score of the graded rows (named as in docs/model.md)."""
    scores = {name: rankers.rule_scores(graded, name) for name in rankers.RULES}
    sidecar = list_model.read_sidecar(folder) or {}
    params = (sidecar.get("metrics") or {}).get("params") if sidecar.get("used") else None
    if params:
        scores[rankers.LIST_MODEL] = list_model.cross_fitted_for(
            graded, outcomes, params, grade_cutoff=cutoff
        )
    scores[rankers.REPEAT_MODEL] = model.predict(graded)
    if model.logistic is not None:
        scores["logistic_regression"] = model.logistic.predict(graded)
    positive_rate = float(model.sidecar.get("positive_rate", 0.3))
    scores["popularity"] = graded["track_prior_plays"].fill_null(0.0).to_numpy()
    scores["track_repeat_rate"] = (
        graded["track_prior_repeat_rate"].fill_null(positive_rate).to_numpy()
    )
    return scores


def relevant_pairs(
    conn: psycopg.Connection, graded: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(repeats: tracks each listener played in (T, T + horizon] and by T; DESIGN.md's
    variant: tracks played at least twice in (T, T + horizon]) with T the listener's own
    cut-off (`as_of` of their graded rows)."""
    cutoffs = graded.group_by("user_id").agg(pl.col("as_of").first())
    plays = read_frame(conn, PLAYS)  # three columns of every play, through the seam
    horizon = pl.duration(days=HORIZON_DAYS)
    frame = (
        plays.join(cutoffs, on="user_id")
        .group_by("user_id", "track_key")
        .agg(
            after_plays=(
                (pl.col("played_at") > pl.col("as_of"))
                & (pl.col("played_at") <= pl.col("as_of") + horizon)
            ).sum(),
            before_plays=(pl.col("played_at") <= pl.col("as_of")).sum(),
        )
        .filter(pl.col("after_plays") > 0)
    )
    repeats = frame.filter(pl.col("before_plays") > 0).select("user_id", "track_key")
    two_plays = frame.filter(pl.col("after_plays") >= 2).select("user_id", "track_key")
    return repeats, two_plays


def _grade(
    scores: pl.DataFrame, relevant: pl.DataFrame, relevant_two: pl.DataFrame, k: int, published: str
) -> dict[str, Any]:
    listed = scores.select("user_id").unique()
    relevant = relevant.join(listed, on="user_id", how="semi")
    relevant_two = relevant_two.join(listed, on="user_id", how="semi")
    covered = relevant.join(
        scores.select("user_id", "track_key"), on=["user_id", "track_key"], how="semi"
    ).height
    names = [name for name in scores.columns if name not in ("user_id", "track_key")]
    rankings, rankings_two, per_listener = {}, {}, {}
    for name in names:
        ranked = ranking.rank_lists(scores, name, k=k)
        rankings[name] = ranking.list_metrics(ranked, relevant, k=k)
        rankings_two[name] = ranking.list_metrics(ranked, relevant_two, k=k)
        if name in ("published", rankers.RECENT_PLAYS):
            per_user = ranking.user_list_metrics(ranked, relevant, k=k)
            per_listener[name] = dict(
                zip(per_user["user_id"].to_list(), per_user["ndcg"].to_list(), strict=True)
            )
    recent = rankings[rankers.RECENT_PLAYS][f"ndcg_at_{k}"]
    others = [
        name
        for name in names
        if name not in ("published", published) and rankings[name][f"ndcg_at_{k}"] is not None
    ]
    strongest = max(others, key=lambda name: rankings[name][f"ndcg_at_{k}"], default=None)
    return {
        "users_with_lists": listed.height,
        "users_evaluated": rankings["published"]["users"],
        "relevant_pairs": relevant.height,
        "candidate_coverage": covered / relevant.height if relevant.height else None,
        "rankings": rankings,
        "rankings_two_plays": rankings_two,
        "published_vs_recent_plays": (rankings["published"][f"ndcg_at_{k}"] / recent - 1.0)
        if recent
        else None,
        "strongest_baseline": strongest,
        "per_listener_ndcg": per_listener,
    }


def _write(conn: psycopg.Connection, folder: Path, result: dict[str, Any], *, record: bool) -> None:
    result["plot"] = str(plot_backtest(result, folder / "backtest.png"))
    result["listener_plot"] = str(plot_listeners(result, folder / "backtest_listeners.png"))
    (folder / "backtest.json").write_text(
        json.dumps(finite(result), indent=2, default=str), encoding="utf-8"
    )
    (folder / "backtest.md").write_text("\n".join(backtest_section(result)), encoding="utf-8")
    result["report_path"] = str((folder / "backtest.md").resolve())
    if not record:
        return
    with conn.transaction():
        conn.execute(_BACKTESTS_DDL)
        conn.execute(
            "insert into ml.backtests (backtest_id, model_version, cutoff, horizon_days, k, "
            "align_users, metrics, report_path) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                uuid.uuid4(),
                result["model_version"],
                result["cutoff"],
                result["horizon_days"],
                result["k"],
                False,
                Jsonb(finite(result)),
                result["report_path"],
            ],
        )
