{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem() }}"],
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- The repeat label (../shared/DESIGN.md). For each (user, track), the first observed play;
-- repeat_30d = 1 if the user plays the track again with
--   first_played_at < played_at <= first_played_at + repeat_window_days,
-- else 0; censored (label NULL) while the window is not fully observed, i.e. when
-- first_played_at + window > observed_until (the user's last play).
-- `is_repeated_within_window` is the same outcome without censoring: the value known to
-- anyone once the window has closed (used by the point-in-time repeat-rate features).

with

plays as (

    select
        play_id,
        user_id,
        track_key,
        artist_key,
        played_at,
        session_id,
        {{ epoch_us('played_at') }} as played_at_us

    from {{ ref('int_plays_sessionized') }}

),

ordered as (

    select
        *,
        row_number() over (
            partition by user_id, track_key order by played_at_us, play_id
        ) as pair_play_number,
        lead(played_at) over (
            partition by user_id, track_key order by played_at_us, play_id
        ) as next_played_at,
        max(played_at) over (partition by user_id) as observed_until

    from plays

),

first_plays as (

    select
        user_id,
        track_key,
        artist_key,
        play_id as first_play_id,
        session_id as first_session_id,
        played_at as first_played_at,
        next_played_at,
        observed_until,
        {{ add_days('played_at', var('repeat_window_days')) }} as label_window_ends_at

    from ordered
    where pair_play_number = 1

),

labelled as (

    select
        user_id,
        track_key,
        artist_key,
        first_play_id,
        first_session_id,
        first_played_at,
        next_played_at,
        observed_until,
        label_window_ends_at,
        label_window_ends_at > observed_until as is_censored,
        case
            when next_played_at <= label_window_ends_at then 1 else 0
        end as is_repeated_within_window,
        case
            when label_window_ends_at > observed_until then null
            when next_played_at <= label_window_ends_at then 1
            else 0
        end as repeat_30d

    from first_plays

)

select * from labelled
