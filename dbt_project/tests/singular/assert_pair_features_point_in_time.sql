-- Point-in-time proof: for a deterministic sample of pairs (~1/256, by md5), recompute
-- the history features the slow, obvious way (joins over fct_plays / fct_first_plays
-- restricted to strictly before first_played_at) and compare with fct_pair_features,
-- which is built with window frames. Any row returned is a mismatch.


with

sample_pairs as (

    select *
    from {{ ref('fct_pair_features') }}
    where md5(user_id || '|' || track_key) like '00%'

),

plays as (

    select
        play_id,
        user_id,
        track_key,
        artist_key,
        played_at

    from {{ ref('fct_plays') }}

),

first_plays as (

    select
        *,
        case
            when next_played_at <= label_window_ends_at then 1.0 else 0.0
        end as is_repeated_within_window

    from {{ ref('fct_first_plays') }}

),

-- the user's earlier plays per track they were of, then per sampled pair (two hash
-- aggregations: a count(distinct) over every earlier play would sort them all)
user_history_by_track as (

    select
        sample_pairs.user_id,
        sample_pairs.track_key,
        plays.track_key as play_track_key,
        count(plays.play_id) as prior_plays,
        max(plays.played_at) as previous_played_at

    from sample_pairs
    left join plays
        on
            sample_pairs.user_id = plays.user_id
            and plays.played_at < sample_pairs.first_played_at
    group by sample_pairs.user_id, sample_pairs.track_key, plays.track_key

),

user_history as (

    select
        user_id,
        track_key,
        sum(prior_plays) as user_prior_plays,
        count(play_track_key) as user_prior_tracks,
        max(previous_played_at) as user_previous_played_at

    from user_history_by_track
    group by user_id, track_key

),

track_history as (

    select
        sample_pairs.user_id,
        sample_pairs.track_key,
        count(plays.play_id) as track_prior_plays,
        count(distinct plays.user_id) as track_prior_listeners,
        sum(
            case
                when
                    plays.played_at
                    >= {{ add_days('sample_pairs.first_played_at', -1 * var('track_recent_short_days')) }}
                    then 1
                else 0
            end
        ) as track_plays_7d,
        sum(
            case
                when
                    plays.played_at
                    >= {{ add_days('sample_pairs.first_played_at', -1 * var('track_recent_long_days')) }}
                    then 1
                else 0
            end
        ) as track_plays_28d

    from sample_pairs
    left join plays
        on
            sample_pairs.track_key = plays.track_key
            and plays.played_at < sample_pairs.first_played_at
    group by sample_pairs.user_id, sample_pairs.track_key

),

user_artist_history as (

    select
        sample_pairs.user_id,
        sample_pairs.track_key,
        count(plays.play_id) as user_artist_prior_plays,
        count(distinct plays.track_key) as user_artist_prior_tracks

    from sample_pairs
    inner join {{ ref('dim_tracks') }} as tracks
        on sample_pairs.track_key = tracks.track_key
    left join plays
        on
            sample_pairs.user_id = plays.user_id
            and tracks.artist_key = plays.artist_key
            and plays.played_at < sample_pairs.first_played_at
    group by sample_pairs.user_id, sample_pairs.track_key

),

user_labels as (

    select
        sample_pairs.user_id,
        sample_pairs.track_key,
        count(first_plays.track_key) as user_prior_labelled_pairs,
        avg(first_plays.is_repeated_within_window) as user_prior_repeat_rate

    from sample_pairs
    left join first_plays
        on
            sample_pairs.user_id = first_plays.user_id
            and first_plays.label_window_ends_at <= sample_pairs.first_played_at
    group by sample_pairs.user_id, sample_pairs.track_key

),

track_labels as (

    select
        sample_pairs.user_id,
        sample_pairs.track_key,
        avg(first_plays.is_repeated_within_window) as track_prior_repeat_rate

    from sample_pairs
    left join first_plays
        on
            sample_pairs.track_key = first_plays.track_key
            and sample_pairs.user_id != first_plays.user_id
            and first_plays.label_window_ends_at <= sample_pairs.first_played_at
    group by sample_pairs.user_id, sample_pairs.track_key

),

recomputed as (

    select
        sample_pairs.*,
        user_history.user_prior_plays as expected_user_prior_plays,
        user_history.user_prior_tracks as expected_user_prior_tracks,
        (
            {{ epoch_us('sample_pairs.first_played_at') }}
            - {{ epoch_us('user_history.user_previous_played_at') }}
        ) / 3600000000.0 as expected_user_hours_since_prev_play,
        track_history.track_prior_plays as expected_track_prior_plays,
        track_history.track_prior_listeners as expected_track_prior_listeners,
        coalesce(track_history.track_plays_7d, 0) as expected_track_plays_7d,
        coalesce(track_history.track_plays_28d, 0) as expected_track_plays_28d,
        user_artist_history.user_artist_prior_plays as expected_user_artist_prior_plays,
        user_artist_history.user_artist_prior_tracks as expected_user_artist_prior_tracks,
        user_labels.user_prior_labelled_pairs as expected_user_prior_labelled_pairs,
        user_labels.user_prior_repeat_rate as expected_user_prior_repeat_rate,
        track_labels.track_prior_repeat_rate as expected_track_prior_repeat_rate

    from sample_pairs
    inner join user_history
        on
            sample_pairs.user_id = user_history.user_id
            and sample_pairs.track_key = user_history.track_key
    inner join track_history
        on
            sample_pairs.user_id = track_history.user_id
            and sample_pairs.track_key = track_history.track_key
    left join user_artist_history
        on
            sample_pairs.user_id = user_artist_history.user_id
            and sample_pairs.track_key = user_artist_history.track_key
    inner join user_labels
        on
            sample_pairs.user_id = user_labels.user_id
            and sample_pairs.track_key = user_labels.track_key
    inner join track_labels
        on
            sample_pairs.user_id = track_labels.user_id
            and sample_pairs.track_key = track_labels.track_key

)

select *
from recomputed
where
    user_prior_plays != expected_user_prior_plays
    or user_prior_tracks != expected_user_prior_tracks
    or track_prior_plays != expected_track_prior_plays
    or track_prior_listeners != expected_track_prior_listeners
    or track_plays_7d != expected_track_plays_7d
    or track_plays_28d != expected_track_plays_28d
    or user_prior_labelled_pairs != expected_user_prior_labelled_pairs
    or coalesce(user_artist_prior_plays, -1) != coalesce(expected_user_artist_prior_plays, -1)
    or coalesce(user_artist_prior_tracks, -1) != coalesce(expected_user_artist_prior_tracks, -1)
    or (user_hours_since_prev_play is null) != (expected_user_hours_since_prev_play is null)
    or abs(user_hours_since_prev_play - expected_user_hours_since_prev_play) > 1e-6
    or (user_prior_repeat_rate is null) != (expected_user_prior_repeat_rate is null)
    or abs(user_prior_repeat_rate - expected_user_prior_repeat_rate) > 1e-9
    or (track_prior_repeat_rate is null) != (expected_track_prior_repeat_rate is null)
    or abs(track_prior_repeat_rate - expected_track_prior_repeat_rate) > 1e-9
