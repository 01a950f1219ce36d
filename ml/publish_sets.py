"""What a publish puts in the serving layer, in SQL that PostgreSQL and Snowflake both run,
and the publish on Snowflake.

`RANKED_LISTS` is each active listener's top `top_n` scored tracks with their clock and
reason (the rules are ml/publish.py's: only listeners in marts.fct_candidate_features, ties
broken by track_key, the scorer's reason else FALLBACK_REASON). `coverage` counts, from
the rows a publish wrote, who of the listeners with candidates got a list, who did not and
why, and whose list is short. ml.publish loads PostgreSQL's partitions with them;
`publish_elsewhere` hands them to Snowflake's serving layout
(warehouse/snowflake_serving.py) when the data lives there (`warehouse.seam.data`).
"""

from __future__ import annotations

import logging

import polars as pl
import psycopg

from ml.runs import latest_version
from ml.score import FALLBACK_REASON
from warehouse import seam, snowflake_serving

log = logging.getLogger(__name__)

RANKED_LISTS = """
with clocks as (
    select user_id, max(as_of) as as_of
    from marts.fct_candidate_features
    group by user_id
    having max(as_of) is not null
),

ranked as (
    select s.user_id, s.track_key, s.score, s.model_version, s.reason as scored_reason,
           clocks.as_of,
           row_number() over (partition by s.user_id order by s.score desc, s.track_key) as rank
    from ml.scores s
    join clocks on clocks.user_id = s.user_id
    where s.model_version = %(version)s
)

select user_id, track_key, rank, score,
       coalesce(nullif(scored_reason, ''), %(fallback)s) as reason, model_version, as_of
from ranked
where rank <= %(top_n)s
"""

# The names of the tracks a publish lists ({published}: a query of their track_key).
LIST_TRACKS = """
select t.track_key, t.track_name, t.artist_name, t.genre
from marts.dim_tracks t
where t.track_key in ({published})
"""

# Why a listener with candidates has no list, or a short one: the stated rules.
LEFT_OUT_REASONS = {
    "no_scores": "no scores for this model version",
    "no_clock": "no clock: as_of is NULL in marts.fct_candidate_features",
}
SHORT_REASON = "scores for only some of their candidates"
COVERAGE_SAMPLE = 20  # listener ids kept per reason in serving.publishes.coverage

_COUNTS = {"user_id": pl.String(), "n": pl.Int64()}


def coverage(data: seam.Warehouse, published: str, version: str, top_n: int) -> dict:
    """Coverage (DESIGN.md, "Serving contract"): every listener in
    marts.fct_candidate_features (exactly those with a play in the 30 days before their
    clock) should get a list of min(top_n, their candidates) rows. `published` is a query
    of the user_id of every row the publish wrote (from code)."""
    candidates = data.read_sql(
        "select user_id, count(*) as n from marts.fct_candidate_features group by user_id",
        None,
        _COUNTS,
    )
    scored = data.read_sql(
        "select user_id, count(*) as n from ml.scores where model_version = %(version)s "
        "group by user_id",
        {"version": version},
        _COUNTS,
    )
    listed = data.read_sql(
        f"select user_id, count(*) as n from ({published}) as p group by user_id",  # noqa: S608
        None,
        _COUNTS,
    )
    listeners = (
        candidates.rename({"n": "candidates"})
        .join(scored.rename({"n": "scored"}), on="user_id", how="full", coalesce=True)
        .join(listed.rename({"n": "published"}), on="user_id", how="full", coalesce=True)
        .with_columns(
            status=pl.when(pl.col("candidates").is_null())
            .then(pl.lit("scored_not_candidates"))
            .when(pl.col("published").is_null() & pl.col("scored").is_null())
            .then(pl.lit("no_scores"))
            .when(pl.col("published").is_null())
            .then(pl.lit("no_clock"))
            .when(pl.col("published") < pl.min_horizontal(pl.lit(top_n), pl.col("candidates")))
            .then(pl.lit("partial"))
            .otherwise(pl.lit("published"))
        )
        .sort("user_id")
    )
    counts = dict(listeners.group_by("status").len().iter_rows())

    def gaps(statuses: dict[str, str]) -> list[dict]:
        return [
            {
                "reason": reason,
                "listeners": counts[status],
                "sample": listeners.filter(pl.col("status") == status)["user_id"]
                .head(COVERAGE_SAMPLE)
                .to_list(),
            }
            for status, reason in statuses.items()
            if counts.get(status)
        ]

    left_out = sum(counts.get(status, 0) for status in LEFT_OUT_REASONS)
    published_count = counts.get("published", 0) + counts.get("partial", 0)
    return {
        "top_n": top_n,
        "listeners_with_candidates": published_count + left_out,
        "listeners_published": published_count,
        "listeners_left_out": left_out,
        "left_out": gaps(LEFT_OUT_REASONS),
        "listeners_short": counts.get("partial", 0),
        "short_lists": gaps({"partial": SHORT_REASON}),
        "scored_not_candidates": counts.get("scored_not_candidates", 0),
    }


def publish_elsewhere(
    conn: psycopg.Connection,
    data: seam.Snowflake,
    *,
    model_version: str | None,
    top_n: int,
    keep: int,
) -> tuple[int, int, str, dict]:
    """Publish into Snowflake's serving layout: the lists and their tracks inserted and made
    current in one transaction, older publishes beyond `keep` dropped, the coverage recorded.
    The model version comes from the registry on `conn` (the control PostgreSQL). Returns
    (publish_id, rows, model_version, coverage)."""
    version = model_version or latest_version(conn)
    cursor = data.conn.cursor()
    made = snowflake_serving.publish(
        cursor,
        data.database,
        model_version=version,
        top_n=top_n,
        recommendations=RANKED_LISTS,
        tracks=LIST_TRACKS.format(
            published="select track_key from serving.recommendation_sets "
            "where publish_id = %(publish_id)s"
        ),
        params={"version": version, "top_n": top_n, "fallback": FALLBACK_REASON},
        keep=keep,
    )
    covered = coverage(
        data,
        "select user_id from serving.recommendation_sets "  # noqa: S608
        f"where publish_id = {int(made.publish_id)}",
        version,
        top_n,
    )
    snowflake_serving.record_coverage(cursor, data.database, made.publish_id, covered)
    return made.publish_id, made.rows, version, covered


def rollback_elsewhere(data: seam.Snowflake, to: str | int | None) -> tuple[int, str]:
    """Make a kept Snowflake publish current again: the one before the current publish, or
    `to` (a publish id, or a model version: its newest kept publish). Returns
    (publish_id, model_version)."""
    cursor = data.conn.cursor()
    kept = snowflake_serving.publishes(cursor, data.database)
    current = next((p for p, _, is_current in kept if is_current), None)
    if to is None:
        candidates = [p for p, _, _ in kept if current is not None and p < current]
        what = "no kept publish before the current one"
    elif isinstance(to, int) or str(to).isdigit():
        candidates = [p for p, _, _ in kept if p == int(to)]
        what = f"publish {to} is not kept (see SERVING.PUBLISHES)"
    else:
        candidates = [p for p, version, _ in kept if version == str(to)]
        what = f"no kept publish of model {to} (see SERVING.PUBLISHES)"
    if not candidates:
        raise LookupError(what)
    chosen = candidates[-1]
    snowflake_serving.make_current(cursor, data.database, chosen)
    return chosen, next(version for p, version, _ in kept if p == chosen)
