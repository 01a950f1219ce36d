{{ config(materialized='table', post_hook=["{{ analyze_relation() }}"]) }}

-- Generator `co_listened`: the `colisten_candidates_per_user` tracks with the highest
-- colisten_score (int_colisten_user_scores) at the latest co-listening snapshot at or
-- before the reference point, that the listener had never played by then.

with

reference_points as (

    select
        user_id,
        cutoff_number,
        as_of,
        {{ colisten_snapshot_before(epoch_us('as_of') ~ ' + 1') }} as snapshot_at_us

    from {{ ref('int_candidate_reference_points') }}

),

scores as (

    select
        user_id,
        snapshot_at_us,
        track_key,
        colisten_score

    from {{ ref('int_colisten_user_scores') }}

),

first_plays as (

    select
        user_id,
        track_key,
        first_played_at

    from {{ ref('int_first_plays') }}

),

ranked as (

    select
        reference_points.user_id,
        reference_points.cutoff_number,
        reference_points.as_of,
        scores.track_key,
        row_number() over (
            partition by reference_points.user_id, reference_points.cutoff_number
            order by scores.colisten_score desc, scores.track_key asc
        ) as colisten_rank

    from reference_points
    inner join scores
        on
            reference_points.user_id = scores.user_id
            and reference_points.snapshot_at_us = scores.snapshot_at_us
    left join first_plays
        on
            reference_points.user_id = first_plays.user_id
            and scores.track_key = first_plays.track_key
            and reference_points.as_of >= first_plays.first_played_at
    where first_plays.user_id is null

),

final as (

    select
        user_id,
        cutoff_number,
        as_of,
        track_key

    from ranked
    where colisten_rank <= {{ var('colisten_candidates_per_user') }}

)

select * from final
