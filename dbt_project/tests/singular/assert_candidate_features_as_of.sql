-- Candidate features are as of their reference point: for a deterministic sample (~1/256,
-- by md5) of fct_candidate_features (cutoff 0) and fct_candidate_outcomes (past
-- cut-offs), recompute with plain joins over fct_plays what the listener and the track
-- had done at or before as_of, and the outcome in (as_of, as_of + 30 days], and compare
-- with the marts (built with window frames over int_plays_with_history). as_of itself
-- must be the listener's clock minus cutoff_number x list_cutoff_step_days. Any row
-- returned is a mismatch.

with

candidates as (

    select
        user_id,
        track_key,
        0 as cutoff_number,
        as_of,
        user_prior_plays,
        user_prior_tracks,
        user_plays_30d,
        track_prior_plays,
        track_prior_listeners,
        user_track_prior_plays,
        user_track_plays_7d,
        user_track_plays_30d,
        user_track_plays_90d,
        user_track_days_since_last_play,
        user_track_plays_decayed_30d,
        cast(null as bigint) as user_track_plays_next_30d,
        cast(null as integer) as replayed_30d

    from {{ ref('fct_candidate_features') }}

    union all

    select
        user_id,
        track_key,
        cutoff_number,
        as_of,
        user_prior_plays,
        user_prior_tracks,
        user_plays_30d,
        track_prior_plays,
        track_prior_listeners,
        user_track_prior_plays,
        user_track_plays_7d,
        user_track_plays_30d,
        user_track_plays_90d,
        user_track_days_since_last_play,
        user_track_plays_decayed_30d,
        user_track_plays_next_30d,
        replayed_30d

    from {{ ref('fct_candidate_outcomes') }}

),

sample_candidates as (

    select *
    from candidates
    where md5(user_id || '|' || track_key || '|' || cast(cutoff_number as varchar)) like '00%'

),

plays as (

    select
        play_id,
        user_id,
        track_key,
        played_at

    from {{ ref('fct_plays') }}

),

clocks as (

    select
        user_id,
        clock

    from {{ ref('int_listener_clocks') }}

),

sample_reference_points as (

    select distinct
        user_id,
        cutoff_number,
        as_of

    from sample_candidates

),

user_history as (

    select
        sample_reference_points.user_id,
        sample_reference_points.cutoff_number,
        count(plays.play_id) as user_prior_plays,
        count(distinct plays.track_key) as user_prior_tracks,
        sum(
            case
                when
                    plays.played_at
                    > {{ add_days('sample_reference_points.as_of', -1 * var('candidate_recent_days')) }}
                    then 1
                else 0
            end
        ) as user_plays_30d

    from sample_reference_points
    left join plays
        on
            sample_reference_points.user_id = plays.user_id
            and plays.played_at <= sample_reference_points.as_of
    group by sample_reference_points.user_id, sample_reference_points.cutoff_number

),

sample_track_times as (

    select distinct
        track_key,
        as_of

    from sample_candidates

),

track_history as (

    select
        sample_track_times.track_key,
        sample_track_times.as_of,
        count(plays.play_id) as track_prior_plays,
        count(distinct plays.user_id) as track_prior_listeners

    from sample_track_times
    left join plays
        on
            sample_track_times.track_key = plays.track_key
            and plays.played_at <= sample_track_times.as_of
    group by sample_track_times.track_key, sample_track_times.as_of

),

user_track_history as (

    select
        sample_candidates.user_id,
        sample_candidates.track_key,
        sample_candidates.cutoff_number,
        sum(case when plays.played_at <= sample_candidates.as_of then 1 else 0 end)
            as user_track_prior_plays,
        {%- for days in [7, 30, 90] %}
        sum(
            case
                when
                    plays.played_at <= sample_candidates.as_of
                    and plays.played_at > {{ add_days('sample_candidates.as_of', -1 * days) }}
                    then 1
                else 0
            end
        ) as user_track_plays_{{ days }}d,
        {%- endfor %}
        max(case when plays.played_at <= sample_candidates.as_of then plays.played_at end)
            as last_played_at,
        sum(
            case
                when plays.played_at <= sample_candidates.as_of
                    then exp(
                        (
                            {{ epoch_us('plays.played_at') }}
                            - {{ epoch_us('sample_candidates.as_of') }}
                        ) / {{ days_us(30) }}.0
                    )
                else 0
            end
        ) as user_track_plays_decayed_30d,
        sum(
            case
                when
                    plays.played_at > sample_candidates.as_of
                    and plays.played_at
                    <= {{ add_days('sample_candidates.as_of', var('repeat_window_days')) }}
                    then 1
                else 0
            end
        ) as user_track_plays_next_30d

    from sample_candidates
    left join plays
        on
            sample_candidates.user_id = plays.user_id
            and sample_candidates.track_key = plays.track_key
    group by
        sample_candidates.user_id, sample_candidates.track_key,
        sample_candidates.cutoff_number

),

recomputed as (

    select
        sample_candidates.*,
        {{ add_days('clocks.clock', '-1 * sample_candidates.cutoff_number * ' ~ var('list_cutoff_step_days')) }}
            as expected_as_of,
        user_history.user_prior_plays as expected_user_prior_plays,
        user_history.user_prior_tracks as expected_user_prior_tracks,
        coalesce(user_history.user_plays_30d, 0) as expected_user_plays_30d,
        track_history.track_prior_plays as expected_track_prior_plays,
        track_history.track_prior_listeners as expected_track_prior_listeners,
        coalesce(user_track_history.user_track_prior_plays, 0)
            as expected_user_track_prior_plays,
        coalesce(user_track_history.user_track_plays_7d, 0) as expected_user_track_plays_7d,
        coalesce(user_track_history.user_track_plays_30d, 0) as expected_user_track_plays_30d,
        coalesce(user_track_history.user_track_plays_90d, 0) as expected_user_track_plays_90d,
        (
            {{ epoch_us('sample_candidates.as_of') }}
            - {{ epoch_us('user_track_history.last_played_at') }}
        ) / 86400000000.0 as expected_user_track_days_since_last_play,
        coalesce(user_track_history.user_track_plays_decayed_30d, 0)
            as expected_user_track_plays_decayed_30d,
        coalesce(user_track_history.user_track_plays_next_30d, 0)
            as expected_user_track_plays_next_30d

    from sample_candidates
    inner join clocks
        on sample_candidates.user_id = clocks.user_id
    inner join user_history
        on
            sample_candidates.user_id = user_history.user_id
            and sample_candidates.cutoff_number = user_history.cutoff_number
    inner join track_history
        on
            sample_candidates.track_key = track_history.track_key
            and sample_candidates.as_of = track_history.as_of
    inner join user_track_history
        on
            sample_candidates.user_id = user_track_history.user_id
            and sample_candidates.track_key = user_track_history.track_key
            and sample_candidates.cutoff_number = user_track_history.cutoff_number

)

select *
from recomputed
where
    as_of != expected_as_of
    or user_prior_plays != expected_user_prior_plays
    or user_prior_tracks != expected_user_prior_tracks
    or user_plays_30d != expected_user_plays_30d
    or track_prior_plays != expected_track_prior_plays
    or track_prior_listeners != expected_track_prior_listeners
    or user_track_prior_plays != expected_user_track_prior_plays
    or user_track_plays_7d != expected_user_track_plays_7d
    or user_track_plays_30d != expected_user_track_plays_30d
    or user_track_plays_90d != expected_user_track_plays_90d
    or (user_track_days_since_last_play is null)
    != (expected_user_track_days_since_last_play is null)
    or abs(user_track_days_since_last_play - expected_user_track_days_since_last_play) > 1e-6
    or abs(user_track_plays_decayed_30d - expected_user_track_plays_decayed_30d)
    > 1e-6 * greatest(1, expected_user_track_plays_decayed_30d)
    -- outcomes only (NULL at cutoff 0, where the future is unknown)
    or user_track_plays_next_30d != expected_user_track_plays_next_30d
    or replayed_30d
    != case
        when expected_user_track_plays_next_30d >= 2 then 1
        when
            expected_user_track_plays_next_30d = 1 and expected_user_track_prior_plays > 0
            then 1
        else 0
    end
