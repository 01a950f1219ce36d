{{
    config(
        indexes=[{'columns': ['user_id', 'session_started_at']}],
    )
}}

with

plays as (

    select * from {{ ref('int_plays_sessionized') }}

),

sessions as (

    select
        session_id,
        user_id,
        min(played_at) as session_started_at,
        max(played_at) as session_last_played_at,
        cast(count(*) as bigint) as play_count,
        cast(count(distinct track_key) as bigint) as distinct_track_count,
        cast(sum(ms_played) as bigint) as total_ms_played

    from plays
    group by session_id, user_id

),

final as (

    select
        session_id,
        user_id,
        session_started_at,
        session_last_played_at,
        cast(
            ({{ epoch_us('session_last_played_at') }} - {{ epoch_us('session_started_at') }})
            / 60000000.0
            as double precision
        ) as session_span_minutes,
        play_count,
        distinct_track_count,
        total_ms_played

    from sessions

)

select * from final
