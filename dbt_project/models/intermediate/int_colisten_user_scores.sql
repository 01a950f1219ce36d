{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem('512MB') }}"],
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- Per user and co-listening snapshot (macros/colisten.sql), how strongly each track is
-- co-listened with what the user played: the user's profile at S is their
-- `colisten_profile_tracks` most played tracks of [S - colisten_snapshot_days, S) (then by
-- track_key); colisten_score(track) = the sum, over profile tracks that have the track
-- among their neighbours at S (int_colisten_neighbours), of the co-listening users.
-- Everything read is strictly before S. Profile tracks themselves may score too.

with

plays as (

    select
        user_id,
        track_key,
        {{ colisten_snapshot_of_play(epoch_us('played_at')) }} as snapshot_at_us

    from {{ ref('int_plays_sessionized') }}

),

profile_counts as (

    select
        user_id,
        snapshot_at_us,
        track_key,
        count(*) as n_plays

    from plays
    group by user_id, snapshot_at_us, track_key

),

profile as (

    select
        user_id,
        snapshot_at_us,
        track_key

    from (
        select
            user_id,
            snapshot_at_us,
            track_key,
            row_number() over (
                partition by user_id, snapshot_at_us order by n_plays desc, track_key asc
            ) as profile_rank

        from profile_counts
    ) as ranked
    where profile_rank <= {{ var('colisten_profile_tracks') }}

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
