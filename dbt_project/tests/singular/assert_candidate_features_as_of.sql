-- Candidate features are as of their reference point: for a deterministic sample (~1/256,
-- by md5) of fct_candidate_features (cutoff 0) and fct_candidate_outcomes (past
-- cut-offs), recompute with plain joins over fct_plays what the listener and the track
-- had done at or before as_of, and the outcome in (as_of, as_of + 30 days], and compare
-- with the marts (built with window frames over int_plays_with_history). as_of itself
-- must be the listener's clock minus cutoff_number x list_cutoff_step_days. Any row
-- returned is a mismatch.
--
-- One aggregation keyed by the sampled row over its listener's plays and its track's
-- plays (no join between aggregates: a planner that misjudges their sizes would rerun
-- one for every row of the other).
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

-- every play of the sampled row's listener, and every play of its track (left joins: a
-- row with no plays on a side still appears once, with NULL plays)
sample_plays as (

    select
        sample_candidates.*,
        'user' as side,
        plays.play_id,
        plays.user_id as play_user_id,
        plays.track_key as play_track_key,
        plays.played_at

    from sample_candidates
    left join plays
        on sample_candidates.user_id = plays.user_id

    union all

    select
        sample_candidates.*,
        'track' as side,
        plays.play_id,
        plays.user_id as play_user_id,
        plays.track_key as play_track_key,
        plays.played_at

    from sample_candidates
    left join plays
        on sample_candidates.track_key = plays.track_key

),

recomputed as (

    select
        user_id,
        track_key,
        cutoff_number,
        as_of,
        {%- for column in [
            'user_prior_plays', 'user_prior_tracks', 'user_plays_30d', 'track_prior_plays',
            'track_prior_listeners', 'user_track_prior_plays', 'user_track_plays_7d',
            'user_track_plays_30d', 'user_track_plays_90d', 'user_track_days_since_last_play',
            'user_track_plays_decayed_30d', 'user_track_plays_next_30d', 'replayed_30d'
        ] %}
        max({{ column }}) as {{ column }},
        {%- endfor %}

        ---------- the listener
        sum(
            case when side = 'user' and played_at <= as_of then 1 else 0 end
        ) as expected_user_prior_plays,
        count(
            distinct case when side = 'user' and played_at <= as_of then play_track_key end
        ) as expected_user_prior_tracks,
        sum(
            case
                when
                    side = 'user' and played_at <= as_of
                    and played_at > {{ add_days('as_of', -1 * var('candidate_recent_days')) }}
                    then 1
                else 0
            end
        ) as expected_user_plays_30d,

        ---------- the track
        sum(
            case when side = 'track' and played_at <= as_of then 1 else 0 end
        ) as expected_track_prior_plays,
        count(
            distinct case when side = 'track' and played_at <= as_of then play_user_id end
        ) as expected_track_prior_listeners,

        ---------- the listener and the track
        sum(
            case
                when side = 'user' and play_track_key = track_key and played_at <= as_of
                    then 1
                else 0
            end
        ) as expected_user_track_prior_plays,
        {%- for days in [7, 30, 90] %}
        sum(
            case
                when
                    side = 'user' and play_track_key = track_key and played_at <= as_of
                    and played_at > {{ add_days('as_of', -1 * days) }}
                    then 1
                else 0
            end
        ) as expected_user_track_plays_{{ days }}d,
        {%- endfor %}
        max(
            case
                when side = 'user' and play_track_key = track_key and played_at <= as_of
                    then played_at
            end
        ) as last_played_at,
        sum(
            case
                when side = 'user' and play_track_key = track_key and played_at <= as_of
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
                    side = 'user' and play_track_key = track_key and played_at > as_of
                    and played_at <= {{ add_days('as_of', var('repeat_window_days')) }}
                    then 1
                else 0
            end
        ) as expected_user_track_plays_next_30d

    from sample_plays
    group by user_id, track_key, cutoff_number, as_of

),

compared as (

    select
        recomputed.*,
        {{ add_days('clocks.clock', '-1 * recomputed.cutoff_number * ' ~ var('list_cutoff_step_days')) }}
            as expected_as_of,
        (
            {{ epoch_us('recomputed.as_of') }} - {{ epoch_us('recomputed.last_played_at') }}
        ) / 86400000000.0 as expected_user_track_days_since_last_play

    from recomputed
    inner join clocks
        on recomputed.user_id = clocks.user_id

)

select *
from compared
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
