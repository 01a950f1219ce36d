{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem() }}"],
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- Candidate (user, track) pairs to score, for the active users: those with a play in the
-- `candidate_recent_days` up to as_of (the latest play in the warehouse).
--   listened          the user's own tracks of that period;
--   popular_in_genre  the `candidates_per_genre` most played tracks of that period in each
--                     of the user's `candidate_top_genres` genres (by the user's plays of
--                     that period), that the user never played;
--   popular           the most played tracks overall (that period, then all time, then
--                     by Spotify popularity: catalogue tracks nobody played yet) that
--                     the user never played, topping every active user up to
--                     `min_candidates_per_user`.
-- One row per (user, track): the sources are disjoint by construction.

with

plays as (

    select
        user_id,
        track_key,
        played_at

    from {{ ref('int_plays_sessionized') }}

),

tracks as (

    select
        track_key,
        artist_key,
        genre,
        popularity

    from {{ ref('int_tracks_enriched') }}

),

as_of as (

    select max(played_at) as as_of from plays

),

recent_plays as (

    select
        plays.user_id,
        plays.track_key,
        tracks.genre

    from plays
    cross join as_of
    left join tracks
        on plays.track_key = tracks.track_key
    where
        plays.played_at
        >= {{ add_days('as_of.as_of', -1 * var('candidate_recent_days')) }}

),

ever_played as (

    select distinct
        user_id,
        track_key

    from plays

),

listened as (

    select distinct
        user_id,
        track_key

    from recent_plays

),

active_users as (

    select distinct user_id from recent_plays

),

user_genres as (

    select
        user_id,
        genre,
        row_number() over (
            partition by user_id order by count(*) desc, genre asc
        ) as genre_rank

    from recent_plays
    where genre is not null
    group by user_id, genre

),

recent_track_plays as (

    select
        track_key,
        count(*) as n_plays

    from recent_plays
    group by track_key

),

all_time_track_plays as (

    select
        track_key,
        count(*) as n_plays

    from plays
    group by track_key

),

track_popularity as (

    select
        tracks.track_key,
        tracks.genre,
        coalesce(recent_track_plays.n_plays, 0) as recent_plays,
        coalesce(all_time_track_plays.n_plays, 0) as all_time_plays,
        coalesce(tracks.popularity, -1) as catalogue_popularity

    from tracks
    left join recent_track_plays
        on tracks.track_key = recent_track_plays.track_key
    left join all_time_track_plays
        on tracks.track_key = all_time_track_plays.track_key

),

genre_popular as (

    select
        track_key,
        genre,
        row_number() over (
            partition by genre
            order by recent_plays desc, all_time_plays desc, track_key asc
        ) as genre_popularity_rank

    from track_popularity
    where genre is not null and recent_plays > 0

),

popular_in_genre as (

    select distinct
        user_genres.user_id,
        genre_popular.track_key

    from user_genres
    inner join genre_popular
        on user_genres.genre = genre_popular.genre
    left join ever_played
        on
            user_genres.user_id = ever_played.user_id
            and genre_popular.track_key = ever_played.track_key
    where
        user_genres.genre_rank <= {{ var('candidate_top_genres') }}
        and genre_popular.genre_popularity_rank <= {{ var('candidates_per_genre') }}
        and ever_played.user_id is null

),

listened_or_genre as (

    select
        user_id,
        track_key,
        'listened' as candidate_source

    from listened

    union all

    select
        user_id,
        track_key,
        'popular_in_genre' as candidate_source

    from popular_in_genre

),

candidate_counts as (

    select
        active_users.user_id,
        count(listened_or_genre.track_key) as n_candidates

    from active_users
    left join listened_or_genre
        on active_users.user_id = listened_or_genre.user_id
    group by active_users.user_id

),

popular_pool as (

    select
        track_key,
        row_number() over (
            order by
                recent_plays desc, all_time_plays desc, catalogue_popularity desc, track_key asc
        ) as popularity_rank

    from track_popularity

),

popular_fill as (

    select
        candidate_counts.user_id,
        popular_pool.track_key,
        candidate_counts.n_candidates,
        row_number() over (
            partition by candidate_counts.user_id order by popular_pool.popularity_rank
        ) as fill_rank

    from candidate_counts
    cross join popular_pool
    left join ever_played
        on
            candidate_counts.user_id = ever_played.user_id
            and popular_pool.track_key = ever_played.track_key
    left join listened_or_genre
        on
            candidate_counts.user_id = listened_or_genre.user_id
            and popular_pool.track_key = listened_or_genre.track_key
    where
        candidate_counts.n_candidates < {{ var('min_candidates_per_user') }}
        and popular_pool.popularity_rank <= {{ var('popular_pool_size') }}
        and ever_played.user_id is null
        and listened_or_genre.user_id is null

),

all_candidates as (

    select
        user_id,
        track_key,
        candidate_source

    from listened_or_genre

    union all

    select
        user_id,
        track_key,
        'popular' as candidate_source

    from popular_fill
    where fill_rank <= {{ var('min_candidates_per_user') }} - n_candidates

),

final as (

    select
        all_candidates.user_id,
        all_candidates.track_key,
        tracks.artist_key,
        tracks.genre,
        all_candidates.candidate_source,
        as_of.as_of

    from all_candidates
    cross join as_of
    left join tracks
        on all_candidates.track_key = tracks.track_key

)

select * from final
