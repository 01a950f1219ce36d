"""Publish the top-N scored candidates per user into serving.recommendations, atomically.

DELETE and INSERT run in one transaction (never TRUNCATE, which would block readers and is
not MVCC-safe): a client reading serving.recommendations sees the previous set until the
commit, then the new one; never an empty or partial table. An empty result aborts the
publish instead of emptying the table.
"""

from __future__ import annotations

import logging

import psycopg

from ml.runs import latest_version

log = logging.getLogger(__name__)

DEFAULT_TOP_N = 20

# The reason: the first matching rule wins. Every rule reads only candidate features, so the
# text is true as of the candidates' `as_of`. Artist names are not in the feature mart:
# clients get them from the serving.user_recommendations view.
_PUBLISH = """
insert into serving.recommendations
    (user_id, track_key, rank, score, reason, model_version, generated_at)
select
    r.user_id, r.track_key, r.rank, r.score,
    case
        when f.user_artist_prior_tracks >= 3
            then format('You''ve played %%s tracks by this artist',
                        f.user_artist_prior_tracks::bigint)
        when f.candidate_source = 'listened'
            then 'Back in your rotation: you''ve played this before'
        when f.genre is not null and f.user_genre_share >= 0.2
            then format('Popular in %%s, one of your top genres', f.genre)
        when f.genre is not null and f.candidate_source = 'popular_in_genre'
            then format('Popular in %%s, a genre you play', f.genre)
        when f.user_artist_prior_plays > 0
            then 'From an artist you''ve listened to'
        when f.track_plays_28d > 0
            then format('Trending: %%s plays in the last 4 weeks', f.track_plays_28d::bigint)
        else 'Picked for you from what listeners like you replay'
    end,
    r.model_version,
    now()
from (
    select s.user_id, s.track_key, s.score, s.model_version,
           row_number() over (partition by s.user_id order by s.score desc, s.track_key) as rank
    from ml.scores s
    where s.model_version = %(version)s
) r
left join marts.fct_candidate_features f
    on f.user_id = r.user_id and f.track_key = r.track_key
where r.rank <= %(top_n)s
"""


def publish(
    conn: psycopg.Connection, *, model_version: str | None = None, top_n: int = DEFAULT_TOP_N
) -> int:
    """Replace serving.recommendations with each user's top `top_n` tracks by score from
    `model_version` (default: the newest succeeded run that has scores). Returns rows published.
    """
    if top_n < 1:
        raise ValueError("top_n must be at least 1")
    with conn.transaction():
        # Serialise publishers: a second one waits, then deletes what the first inserted.
        conn.execute("select pg_advisory_xact_lock(hashtext('encore.publish'))")
        version = model_version or latest_version(conn, scored=True)
        conn.execute("delete from serving.recommendations")
        with conn.cursor() as cur:
            cur.execute(_PUBLISH, {"version": version, "top_n": top_n})
            published = cur.rowcount
        if published <= 0:
            raise LookupError(f"no scores for model {version}; run `python -m ml score` first")
    log.info("published %d recommendations from %s", published, version)
    return published
