{{
    config(
        materialized='table',
        post_hook=["{{ analyze_relation() }}"],
    )
}}

-- The listener's own plays of each candidate track, summed as of the candidate (one row
-- per candidate of int_candidates_generated, keyed like its reference point in
-- int_history_events): plays before it (all, the last 7 / 30 / 90 days), the first and the
-- previous one, their decayed weights, and the plays of the 30 days from it on (the list
-- model's outcome, never a feature). Only candidates carry these (all zero at a first
-- play), so one join of each candidate to its pair's plays replaces six window passes over
-- the whole event stream. A candidate's reference time is as_of + 1 us (plays at as_of
-- count as before it), as in int_history_events.

{%- set short_us = days_us(var('track_recent_short_days')) | int %}
{%- set recent_us = days_us(var('candidate_recent_days')) | int %}
{%- set quarter_us = days_us(90) | int %}
{%- set window_us = days_us(var('repeat_window_days')) | int %}

with

candidates as (

    select
        user_id,
        track_key,
        cutoff_number,
        {{ epoch_us('as_of') }} + 1 as event_at_us

    from {{ ref('int_candidates_generated') }}

),

listeners as (

    select * from {{ ref('int_listeners_numbered') }}

),

plays as (

    select
        plays.user_id,
        plays.track_key,
        {{ epoch_us('plays.played_at') }} as played_at_us,
        listeners.clock_us

    from {{ ref('int_plays_sessionized') }} as plays
    inner join listeners
        on plays.user_id = listeners.user_id

),

pair_plays as (

    select
        candidates.user_id,
        candidates.track_key,
        candidates.cutoff_number,
        candidates.event_at_us,
        plays.played_at_us,
        plays.clock_us,
        case when plays.played_at_us < candidates.event_at_us then 1 else 0 end as is_before

    from candidates
    left join plays
        on
            candidates.user_id = plays.user_id
            and candidates.track_key = plays.track_key

),

summed as (

    select
        user_id,
        track_key,
        cutoff_number,
        sum(is_before) as user_track_prior_plays,
        sum(
            case when played_at_us >= event_at_us - {{ short_us }} then is_before else 0 end
        ) as user_track_plays_short,
        sum(
            case when played_at_us >= event_at_us - {{ recent_us }} then is_before else 0 end
        ) as user_track_plays_recent,
        sum(
            case when played_at_us >= event_at_us - {{ quarter_us }} then is_before else 0 end
        ) as user_track_plays_quarter,
        max(case when is_before = 1 then played_at_us end) as user_track_previous_play_at_us,
        min(case when is_before = 1 then played_at_us end) as user_track_first_play_at_us,
        {%- for tau in var('decay_days') %}
        sum(
            case
                when is_before = 1 then {{ decay_weight('played_at_us', 'clock_us', tau) }}
            end
        ) as user_track_decay_sum_{{ tau }}d,
        {%- endfor %}
        sum(
            case
                when played_at_us between event_at_us and event_at_us + {{ window_us - 1 }}
                    then 1
                else 0
            end
        ) as user_track_plays_next

    from pair_plays
    group by user_id, track_key, cutoff_number

),

final as (

    select
        {{ hash_key(['user_id', 'track_key', 'cutoff_number']) }} as reference_id,
        summed.*

    from summed

)

select * from final
