"""Publish the top-N scored candidates per user into serving.recommendations, atomically.

DELETE and INSERT run in one transaction (never TRUNCATE, which would block readers and is
not MVCC-safe): a client reading serving.recommendations sees the previous set until the
commit, then the new one; never an empty or partial table. An empty result aborts the
publish instead of emptying the table. The recommended tracks' names go to serving.tracks
in the same transaction, so the serving view always shows a consistent snapshot.
"""

from __future__ import annotations

import logging

import psycopg

from ml.runs import latest_version

log = logging.getLogger(__name__)

DEFAULT_TOP_N = 20

# The reason: the first matching rule wins. Every rule reads candidate features (true as of
# the candidates' `as_of`) and the user's plays of the track in the 30 days before it.
_PUBLISH = """
with ranked as (
    select s.user_id, s.track_key, s.score, s.model_version,
           row_number() over (partition by s.user_id order by s.score desc, s.track_key) as rank
    from ml.scores s
    where s.model_version = %(version)s
),

top as (
    select * from ranked where rank <= %(top_n)s
),

recent_plays as (
    select p.user_id, p.track_key, count(*) as plays_30d
    from marts.fct_plays p
    join top using (user_id, track_key)
    join marts.fct_candidate_features f using (user_id, track_key)
    where p.played_at > f.as_of - interval '30 days'
    group by p.user_id, p.track_key
)

insert into serving.recommendations
    (user_id, track_key, rank, score, reason, model_version, generated_at)
select
    top.user_id, top.track_key, top.rank, top.score,
    case
        when coalesce(recent_plays.plays_30d, 0) >= 2
            then format('You played this %%s times in the last 30 days', recent_plays.plays_30d)
        when f.user_artist_prior_tracks >= 3 and t.artist_name is not null
            then format('You''ve played %%s tracks by %%s',
                        f.user_artist_prior_tracks::bigint, t.artist_name)
        when f.candidate_source = 'listened'
            then 'Back in your rotation: you played this recently'
        when f.genre is not null and f.user_genre_share >= 0.2
            then format('Popular in %%s, one of your top genres', f.genre)
        when f.genre is not null and f.candidate_source = 'popular_in_genre'
            then format('Popular in %%s, a genre you play', f.genre)
        when f.user_artist_prior_plays > 0 and t.artist_name is not null
            then format('From %%s, an artist you''ve listened to', t.artist_name)
        when f.track_plays_28d > 0
            then format('Trending: %%s plays in the last 4 weeks', f.track_plays_28d::bigint)
        else 'Picked for you from what listeners like you replay'
    end,
    top.model_version,
    %(generated_at)s
from top
left join marts.fct_candidate_features f using (user_id, track_key)
left join marts.dim_tracks t using (track_key)
left join recent_plays using (user_id, track_key)
"""

_PUBLISH_TRACKS = """
insert into serving.tracks (track_key, track_name, artist_name, genre, model_version,
                            generated_at)
select t.track_key, t.track_name, t.artist_name, t.genre, %(version)s, %(generated_at)s
from marts.dim_tracks t
where t.track_key in (select distinct track_key from serving.recommendations)
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
        generated_at = conn.execute("select now()").fetchone()[0]
        conn.execute("delete from serving.recommendations")
        conn.execute("delete from serving.tracks")
        with conn.cursor() as cur:
            cur.execute(_PUBLISH, {"version": version, "top_n": top_n,
                                   "generated_at": generated_at})
            published = cur.rowcount
            if published <= 0:
                raise LookupError(
                    f"no scores for model {version}; run `python -m ml score` first")
            cur.execute(_PUBLISH_TRACKS, {"version": version, "generated_at": generated_at})
    log.info("published %d recommendations from %s", published, version)
    return published
