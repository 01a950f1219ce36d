-- Candidate features are as of their reference point: for a deterministic sample (~1/256,
-- by md5) of fct_candidate_features (cutoff 0) and fct_candidate_outcomes (past
-- cut-offs), recompute with plain joins over fct_plays what the listener and the track
-- had done at or before as_of, and the outcome in (as_of, as_of + 30 days], and compare
-- with the marts (built with window frames over int_plays_with_history). as_of itself
-- must be the listener's clock minus cutoff_number x list_cutoff_step_days. Any row
-- returned is a mismatch, named by `failed_check`.
--
-- Each feature is recomputed at the grain it depends on: the listener's at (listener,
-- as_of), the track's at (track, as_of), the pair's per sampled row. Every sampled row's
-- mart values are compared (the smallest and the largest of a group must both match), but
-- a listener's plays are read once per as_of, not once per sampled track. Each grain is one
-- aggregation over a union of the sampled rows and their plays (no join between
-- aggregates: a planner that misjudges their sizes would rerun one for every row of the
-- other).
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

---------- the listener, at (listener, as_of)

listener_keys as (

    select distinct
        user_id,
        as_of

    from sample_candidates

),

listener_stream as (

    select
        user_id,
        as_of,
        user_prior_plays,
        user_prior_tracks,
        user_plays_30d,
        null as played_at,
        null as play_track_key

    from sample_candidates

    union all

    select
        listener_keys.user_id,
        listener_keys.as_of,
        null as user_prior_plays,
        null as user_prior_tracks,
        null as user_plays_30d,
        plays.played_at,
        plays.track_key as play_track_key

    from listener_keys
    inner join plays
        on
            listener_keys.user_id = plays.user_id
            and listener_keys.as_of >= plays.played_at

),

listener_checked as (

    select
        user_id,
        as_of,
        min(user_prior_plays) as min_user_prior_plays,
        max(user_prior_plays) as max_user_prior_plays,
        min(user_prior_tracks) as min_user_prior_tracks,
        max(user_prior_tracks) as max_user_prior_tracks,
        min(user_plays_30d) as min_user_plays_30d,
        max(user_plays_30d) as max_user_plays_30d,
        count(played_at) as expected_user_prior_plays,
        count(distinct play_track_key) as expected_user_prior_tracks,
        sum(
            case
                when played_at > {{ add_days('as_of', -1 * var('candidate_recent_days')) }}
                    then 1
                else 0
            end
        ) as expected_user_plays_30d

    from listener_stream
    group by user_id, as_of

),

---------- the track, at (track, as_of)

track_keys as (

    select distinct
        track_key,
        as_of

    from sample_candidates

),

track_stream as (

    select
        track_key,
        as_of,
        track_prior_plays,
        track_prior_listeners,
        null as play_user_id

    from sample_candidates

    union all

    select
        track_keys.track_key,
        track_keys.as_of,
        null as track_prior_plays,
        null as track_prior_listeners,
        plays.user_id as play_user_id

    from track_keys
    inner join plays
        on
            track_keys.track_key = plays.track_key
            and track_keys.as_of >= plays.played_at

),

track_checked as (

    select
        track_key,
        as_of,
        min(track_prior_plays) as min_track_prior_plays,
        max(track_prior_plays) as max_track_prior_plays,
        min(track_prior_listeners) as min_track_prior_listeners,
        max(track_prior_listeners) as max_track_prior_listeners,
        count(play_user_id) as expected_track_prior_plays,
        count(distinct play_user_id) as expected_track_prior_listeners

    from track_stream
    group by track_key, as_of

),

---------- the listener and the track, per sampled row (past and future plays of the pair)

pair_plays as (

    select
        sample_candidates.*,
        plays.played_at

    from sample_candidates
    left join plays
        on
            sample_candidates.user_id = plays.user_id
            and sample_candidates.track_key = plays.track_key

),

pair_checked as (

    select
        user_id,
        track_key,
        cutoff_number,
        as_of,
        {%- for column in [
            'user_track_prior_plays', 'user_track_plays_7d', 'user_track_plays_30d',
            'user_track_plays_90d', 'user_track_days_since_last_play',
            'user_track_plays_decayed_30d', 'user_track_plays_next_30d', 'replayed_30d'
        ] %}
        max({{ column }}) as {{ column }},
        {%- endfor %}
        sum(case when played_at <= as_of then 1 else 0 end) as expected_user_track_prior_plays,
        {%- for days in [7, 30, 90] %}
        sum(
            case
                when played_at <= as_of and played_at > {{ add_days('as_of', -1 * days) }}
                    then 1
                else 0
            end
        ) as expected_user_track_plays_{{ days }}d,
        {%- endfor %}
        max(case when played_at <= as_of then played_at end) as last_played_at,
        sum(
            case
                when played_at <= as_of
                    then exp(
                        ({{ epoch_us('played_at') }} - {{ epoch_us('as_of') }})
                        / {{ days_us(30) }}.0
                    )
                else 0
            end
        ) as expected_user_track_plays_decayed_30d,
        sum(
            case
                when
                    played_at > as_of
                    and played_at <= {{ add_days('as_of', var('repeat_window_days')) }}
                    then 1
                else 0
            end
        ) as expected_user_track_plays_next_30d

    from pair_plays
    group by user_id, track_key, cutoff_number, as_of

),

pair_compared as (

    select
        pair_checked.*,
        {{ add_days('clocks.clock', '-1 * pair_checked.cutoff_number * ' ~ var('list_cutoff_step_days')) }}
            as expected_as_of,
        (
            {{ epoch_us('pair_checked.as_of') }} - {{ epoch_us('pair_checked.last_played_at') }}
        ) / 86400000000.0 as expected_user_track_days_since_last_play

    from pair_checked
    inner join clocks
        on pair_checked.user_id = clocks.user_id

),

failures as (

    select
        'listener features as of as_of' as failed_check,
        user_id,
        cast(null as varchar) as track_key,
        cast(null as integer) as cutoff_number,
        as_of

    from listener_checked
    where
        min_user_prior_plays != expected_user_prior_plays
        or max_user_prior_plays != expected_user_prior_plays
        or min_user_prior_tracks != expected_user_prior_tracks
        or max_user_prior_tracks != expected_user_prior_tracks
        or min_user_plays_30d != expected_user_plays_30d
        or max_user_plays_30d != expected_user_plays_30d

    union all

    select
        'track features as of as_of' as failed_check,
        cast(null as varchar) as user_id,
        track_key,
        cast(null as integer) as cutoff_number,
        as_of

    from track_checked
    where
        min_track_prior_plays != expected_track_prior_plays
        or max_track_prior_plays != expected_track_prior_plays
        or min_track_prior_listeners != expected_track_prior_listeners
        or max_track_prior_listeners != expected_track_prior_listeners

    union all

    select
        'as_of, pair features or outcome' as failed_check,
        user_id,
        track_key,
        cutoff_number,
        as_of

    from pair_compared
    where
        as_of != expected_as_of
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

)

select * from failures
