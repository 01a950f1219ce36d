{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem('512MB') }}"],
        post_hook=["{{ analyze_relation() }}"],
    )
}}

-- Per user and co-listening snapshot S (macros/colisten.sql), the user's profile: their
-- `colisten_profile_tracks` most played tracks of [S - colisten_snapshot_days, S), then by
-- track_key. Only plays are read, not the neighbours, so dbt builds this beside
-- int_colisten_neighbours; int_colisten_user_scores then joins the two.

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

ranked as (

    select
        user_id,
        snapshot_at_us,
        track_key,
        n_plays,
        row_number() over (
            partition by user_id, snapshot_at_us order by n_plays desc, track_key asc
        ) as profile_rank

    from profile_counts

)

select
    user_id,
    snapshot_at_us,
    track_key,
    cast(n_plays as bigint) as n_plays,
    cast(profile_rank as integer) as profile_rank

from ranked
where profile_rank <= {{ var('colisten_profile_tracks') }}
