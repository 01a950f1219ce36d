"""`python -m bench.recency_rules [--cutoffs 1,2,3] [--candidate-days 30,90,0]`: the
recency rules' NDCG@20 at past cut-offs of each listener's clock, computed straight from
`marts.fct_plays` of the warehouse of `WAREHOUSE_URL` (default: the configured one).

An offline sketch for trying a rule before it becomes a contender in `ml.rankers`: at
cut-off k (each listener's clock minus 30 x k days) every track the listener played by then
is scored by a rule over its plays' ages, the top 20 are graded against the tracks they
played again in the next 30 days (the backtest's relevance, docs/model.md), and the lists'
mean NDCG@20 is printed per rule, cut-off and candidate pool (tracks last played within
that many days of the cut-off; 0: the whole history). It is not the backtest: the pipeline's
candidates also hold co-listened, content and popular tracks, and its ties break by
popularity over all plays; `python -m ml backtest --cutoff k` grades the real thing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import polars as pl
from psycopg import sql
from rich.console import Console
from rich.table import Table

from ml import ranking
from warehouse import connections
from warehouse.postgres_io import read_query

HORIZON_DAYS = 30
AGE = pl.col("age_days")


def _decayed(*taus: float) -> pl.Expr:
    return pl.sum_horizontal(*((-AGE / tau).exp() for tau in taus))


RULES: dict[str, Callable[[], pl.Expr]] = {
    "plays in 30 days (recent_plays)": lambda: (AGE <= 30).cast(pl.Float64),
    "exp 30 d": lambda: _decayed(30),
    "exp 90 d": lambda: _decayed(90),
    "exp 30 + 90 d (recency_weighted)": lambda: _decayed(30, 90),
    "exp 7 + 30 + 90 d": lambda: _decayed(7, 30, 90),
    "exp 14 + 60 d": lambda: _decayed(14, 60),
    "exp 30 + 90 + 365 d": lambda: _decayed(30, 90, 365),
    "1 / (1 + age / 30 d)": lambda: 1.0 / (1.0 + AGE / 30),
    "1 / (1 + age / 7 d)": lambda: 1.0 / (1.0 + AGE / 7),
}
"""A rule: the weight of one play by its age in days at the cut-off, summed per track."""

_PLAYS = sql.SQL(
    "select plays.user_id, plays.track_key, "
    "extract(epoch from clocks.clock - plays.played_at) / 86400.0 as age_days "
    "from marts.fct_plays as plays "
    "join intermediate.int_listener_clocks as clocks on clocks.user_id = plays.user_id"
)
_SCHEMA = {"user_id": pl.String(), "track_key": pl.String(), "age_days": pl.Float64()}


def rule_ndcg(plays: pl.DataFrame, cutoff: int, candidate_days: int) -> dict[str, float]:
    """Each rule's mean NDCG@20 at `cutoff` (`plays`: ages from each listener's clock)."""
    shifted = plays.with_columns(age_days=AGE - HORIZON_DAYS * cutoff)
    history = shifted.filter(AGE >= 0)
    after = shifted.filter((AGE < 0) & (AGE >= -HORIZON_DAYS)).select("user_id", "track_key")
    relevant = after.unique().join(
        history.select("user_id", "track_key").unique(), on=["user_id", "track_key"]
    )
    # ties break by the track's plays (everyone's) in the 28 days before the cut-off
    popularity = history.filter(AGE <= 28).group_by("track_key").agg(plays_28d=pl.len())
    results = {}
    for name, rule in RULES.items():
        scored = (
            history.with_columns(weight=rule())
            .group_by("user_id", "track_key")
            .agg(score=pl.col("weight").sum(), last_age=AGE.min())
            .filter((pl.col("last_age") <= candidate_days) if candidate_days else pl.lit(True))
            .join(popularity, on="track_key", how="left")
            .select(
                "user_id",
                "track_key",
                score=pl.col("score") + pl.col("plays_28d").fill_null(0) * 1e-9,
            )
        )
        ranked = ranking.rank_lists(scored, "score", k=ranking.DEFAULT_K)
        metrics = ranking.list_metrics(ranked, relevant)
        results[name] = float(metrics[f"ndcg_at_{ranking.DEFAULT_K}"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.recency_rules", description=__doc__)
    parser.add_argument("--cutoffs", default="1,2,3,4,5,6")
    parser.add_argument("--candidate-days", default="30,90,0")
    args = parser.parse_args()
    cutoffs = [int(value) for value in args.cutoffs.split(",")]
    pools = [int(value) for value in args.candidate_days.split(",")]
    with connections.connect() as conn:
        plays = read_query(conn, _PLAYS, _SCHEMA)
    console = Console()
    for pool in pools:
        table = Table(
            title=f"NDCG@20, candidates: tracks played within {pool or 'any number of'} days "
            f"of the cut-off ({plays['user_id'].n_unique()} listeners, {plays.height:,} plays)"
        )
        table.add_column("rule")
        for cutoff in cutoffs:
            table.add_column(f"cut-off {cutoff}", justify="right")
        table.add_column("mean", justify="right")
        per_cutoff = {cutoff: rule_ndcg(plays, cutoff, pool) for cutoff in cutoffs}
        for name in RULES:
            values = [per_cutoff[cutoff][name] for cutoff in cutoffs]
            table.add_row(name, *(f"{value:.4f}" for value in values), f"{np.mean(values):.4f}")
        console.print(table)


if __name__ == "__main__":
    main()
