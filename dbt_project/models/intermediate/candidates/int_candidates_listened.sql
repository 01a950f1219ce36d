{{ config(materialized='table', post_hook=["{{ analyze_relation() }}"]) }}

-- Generator `listened`: the listener's own tracks of the `candidate_listened_days` up to each
-- reference point (int_candidate_reference_points).

with

reference_points as (

    select
        user_id,
        cutoff_number,
        as_of

    from {{ ref('int_candidate_reference_points') }}

),

plays as (

    select
        user_id,
        track_key,
        played_at

    from {{ ref('int_plays_sessionized') }}

),

final as (

    select distinct
        reference_points.user_id,
        reference_points.cutoff_number,
        reference_points.as_of,
        plays.track_key

    from reference_points
    inner join plays
        on
            reference_points.user_id = plays.user_id
            and reference_points.as_of >= plays.played_at
            and plays.played_at
            > {{ add_days('reference_points.as_of', -1 * var('candidate_listened_days')) }}

)

select * from final
