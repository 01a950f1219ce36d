{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem('512MB') }}"],
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- Per user and co-listening snapshot (macros/colisten.sql), how strongly each track is
-- co-listened with what the user played: colisten_score(track) = the sum, over the user's
-- profile tracks at S (int_colisten_profiles) that have the track among their neighbours
-- at S (int_colisten_neighbours), of the co-listening users. Everything read is strictly
-- before S. Profile tracks themselves may score too.

with

profile as (

    select
        user_id,
        snapshot_at_us,
        track_key

    from {{ ref('int_colisten_profiles') }}

),

neighbours as (

    select
        snapshot_at_us,
        track_key,
        neighbour_track_key,
        n_users

    from {{ ref('int_colisten_neighbours') }}

),

scores as (

    select
        profile.user_id,
        profile.snapshot_at_us,
        neighbours.neighbour_track_key as track_key,
        sum(neighbours.n_users) as colisten_score

    from profile
    inner join neighbours
        on
            profile.snapshot_at_us = neighbours.snapshot_at_us
            and profile.track_key = neighbours.track_key
    group by profile.user_id, profile.snapshot_at_us, neighbours.neighbour_track_key

)

select
    user_id,
    snapshot_at_us,
    track_key,
    cast(colisten_score as double precision) as colisten_score

from scores
