{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem() }}"],
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- Sessions: a user's consecutive plays with gaps of at most `session_gap_minutes`; a
-- larger gap starts a new session. session_id = md5(user_id | start in epoch us), so it
-- is stable across rebuilds.

with

plays as (

    select
        *,
        {{ epoch_us('played_at') }} as played_at_us

    from {{ ref('int_plays_deduplicated') }}

),

gaps as (

    select
        *,
        row_number() over (
            partition by user_id order by played_at_us, play_id
        ) as user_play_number,
        lag(played_at_us) over (
            partition by user_id order by played_at_us, play_id
        ) as previous_played_at_us

    from plays

),

flagged as (

    select
        *,
        coalesce(
            played_at_us - previous_played_at_us
            > {{ minutes_us(var('session_gap_minutes')) }},
            true
        ) as is_session_start

    from gaps

),

session_starts as (

    select
        *,
        -- plays are ordered, so the latest session start so far is this play's session
        max(case when is_session_start then played_at_us end) over (
            partition by user_id
            order by played_at_us, play_id
            rows between unbounded preceding and current row
        ) as session_started_at_us,
        max(case when is_session_start then played_at end) over (
            partition by user_id
            order by played_at_us, play_id
            rows between unbounded preceding and current row
        ) as session_started_at,
        max(case when is_session_start then user_play_number end) over (
            partition by user_id
            order by played_at_us, play_id
            rows between unbounded preceding and current row
        ) as session_first_play_number

    from flagged

),

sessionized as (

    select
        play_id,
        user_id,
        track_key,
        artist_key,
        played_at,
        ms_played,
        source,
        {{ hash_key(['user_id', 'session_started_at_us']) }} as session_id,
        session_started_at,
        cast(
            user_play_number - session_first_play_number + 1 as integer
        ) as session_play_number

    from session_starts

)

select * from sessionized
