{{ config(materialized='table', post_hook=["{{ analyze_relation() }}"]) }}

-- Generator `popular`, the fill: the most popular tracks as of the reference day
-- (int_track_popularity_daily: the period's plays, then the catalogue's popularity) that
-- the listener had never played by then and no other generator proposed, topping every
-- reference point up to `min_candidates_per_user` candidates: every active listener gets
-- a full list.

with

reference_points as (

    select
        user_id,
        cutoff_number,
        as_of,
        as_of_day_us

    from {{ ref('int_candidate_reference_points') }}

),

unioned as (

    select
        user_id,
        cutoff_number,
        track_key

    from {{ ref('int_candidates_unioned') }}

),

counts as (

    select
        reference_points.user_id,
        reference_points.cutoff_number,
        reference_points.as_of,
        reference_points.as_of_day_us,
        count(unioned.track_key) as n_candidates

    from reference_points
    left join unioned
        on
            reference_points.user_id = unioned.user_id
            and reference_points.cutoff_number = unioned.cutoff_number
    group by
        reference_points.user_id, reference_points.cutoff_number, reference_points.as_of,
        reference_points.as_of_day_us

),

popular_pool as (

    select
        as_of_day_us,
        track_key,
        popularity_rank

    from {{ ref('int_track_popularity_daily') }}
    where popularity_rank <= {{ var('popular_pool_size') }}

),

first_plays as (

    select
        user_id,
        track_key,
        first_played_at

    from {{ ref('int_first_plays') }}

),

fill as (

    select
        counts.user_id,
        counts.cutoff_number,
        counts.as_of,
        popular_pool.track_key,
        counts.n_candidates,
        row_number() over (
            partition by counts.user_id, counts.cutoff_number
            order by popular_pool.popularity_rank
        ) as fill_rank

    from counts
    inner join popular_pool
        on counts.as_of_day_us = popular_pool.as_of_day_us
    left join first_plays
        on
            counts.user_id = first_plays.user_id
            and popular_pool.track_key = first_plays.track_key
            and counts.as_of >= first_plays.first_played_at
    left join unioned
        on
            counts.user_id = unioned.user_id
            and counts.cutoff_number = unioned.cutoff_number
            and popular_pool.track_key = unioned.track_key
    where
        counts.n_candidates < {{ var('min_candidates_per_user') }}
        and first_plays.user_id is null
        and unioned.user_id is null

),

final as (

    select
        user_id,
        cutoff_number,
        as_of,
        track_key

    from fill
    where fill_rank <= {{ var('min_candidates_per_user') }} - n_candidates

)

select * from final
