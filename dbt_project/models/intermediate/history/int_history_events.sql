-- The event stream behind every point-in-time feature, one row per event, ordered by
-- epoch microseconds (event_at_us), on integer keys only (int_listeners_numbered,
-- int_tracks_numbered):
--   - each play (reference_type `play`; a first play is a reference point at played_at);
--   - each candidate of int_candidates_generated (`candidate`, a reference point 1 us
--     after its as_of, so plays at as_of count as before it);
--   - one `label_closure` per first play, the moment its outcome became known
--     (label_window_ends_at), placed 1 us early so that "closed at or before t" becomes
--     "strictly before t" in the frames of the running sums
--     (int_history_events_summed_across_listeners, int_history_events_summed_by_listener).
-- Closures of repeated first plays carry the track's audio profile (the listener's mean
-- profile of what they repeated); plays carry their weights in the decayed play sums;
-- first plays and candidates carry their colisten_score, from int_colisten_user_scores at
-- the latest co-listening snapshot strictly before the reference time
-- (macros/colisten.sql). Looked up here, before the sorts, where PostgreSQL's row
-- estimates are still sound.

{%- set audio = audio_profile_columns() %}

with

plays as (

    select
        play_id,
        user_id,
        track_key,
        played_at

    from {{ ref('int_plays_sessionized') }}

),

first_plays as (

    select
        user_id,
        track_key,
        first_play_id,
        is_repeated_within_window,
        {{ epoch_us('label_window_ends_at') }} as label_window_ends_at_us

    from {{ ref('int_first_plays') }}

),

candidates as (

    select
        user_id,
        track_key,
        cutoff_number,
        as_of

    from {{ ref('int_candidates_generated') }}

),

listeners as (

    select * from {{ ref('int_listeners_numbered') }}

),

tracks as (

    select * from {{ ref('int_tracks_numbered') }}

),

colisten_scores as (

    select
        user_id,
        snapshot_at_us,
        track_key,
        colisten_score

    from {{ ref('int_colisten_user_scores') }}

),

reference_points as (

    select
        -- a reference point only at a first play (the one a mart reads: fct_pair_features)
        case when plays.play_id = first_plays.first_play_id then plays.play_id end
            as reference_id,
        'play' as reference_type,
        cast(null as integer) as cutoff_number,
        plays.user_id,
        plays.track_key,
        plays.played_at as reference_at,
        {{ epoch_us('plays.played_at') }} as event_at_us,
        1 as is_play,
        case when plays.play_id = first_plays.first_play_id then 1 else 0 end as is_first_play,
        first_plays.label_window_ends_at_us as own_label_window_ends_at_us,
        first_plays.is_repeated_within_window as own_is_repeated

    from plays
    left join first_plays
        on
            plays.user_id = first_plays.user_id
            and plays.track_key = first_plays.track_key

    union all

    select
        {{ hash_key(['candidates.user_id', 'candidates.track_key', 'candidates.cutoff_number']) }}
            as reference_id,
        'candidate' as reference_type,
        candidates.cutoff_number,
        candidates.user_id,
        candidates.track_key,
        candidates.as_of as reference_at,
        -- as of as_of, plays at as_of included (an export's clock is its last play)
        {{ epoch_us('candidates.as_of') }} + 1 as event_at_us,
        0 as is_play,
        0 as is_first_play,
        first_plays.label_window_ends_at_us as own_label_window_ends_at_us,
        first_plays.is_repeated_within_window as own_is_repeated

    from candidates
    left join first_plays
        on
            candidates.user_id = first_plays.user_id
            and candidates.track_key = first_plays.track_key

),

-- colisten_score only where a mart reads it: first plays and candidates
scored_reference_points as (

    select
        reference_points.*,
        colisten_scores.colisten_score

    from reference_points
    left join colisten_scores
        on
            (reference_points.is_first_play = 1 or reference_points.reference_type = 'candidate')
            and reference_points.user_id = colisten_scores.user_id
            and reference_points.track_key = colisten_scores.track_key
            and {{ colisten_snapshot_before('reference_points.event_at_us') }}
            = colisten_scores.snapshot_at_us

),

events as (

    select
        reference_id,
        reference_type,
        cutoff_number,
        user_id,
        track_key,
        reference_at,
        event_at_us,
        is_play,
        is_first_play,
        0 as is_label_closure,
        0 as is_closed_repeat,
        own_label_window_ends_at_us,
        own_is_repeated,
        colisten_score

    from scored_reference_points

    union all

    select
        null as reference_id,
        'label_closure' as reference_type,
        cast(null as integer) as cutoff_number,
        user_id,
        track_key,
        null as reference_at,
        -- 1 us early: "closed at or before t" becomes "strictly before t"
        label_window_ends_at_us - 1 as event_at_us,
        0 as is_play,
        0 as is_first_play,
        1 as is_label_closure,
        is_repeated_within_window as is_closed_repeat,
        null as own_label_window_ends_at_us,
        null as own_is_repeated,
        cast(null as double precision) as colisten_score

    from first_plays

),

-- only narrow columns go through the sorts; the text keys are joined back at the end
final as (

    select
        events.reference_id,
        events.reference_type,
        events.cutoff_number,
        events.reference_at,
        events.event_at_us,
        events.is_play,
        events.is_first_play,
        events.is_label_closure,
        events.is_closed_repeat,
        events.own_label_window_ends_at_us,
        events.own_is_repeated,
        events.colisten_score,
        listeners.user_num,
        tracks.track_num,
        tracks.artist_num,
        tracks.genre_num,
        -- audio features only on the closures of repeated first plays (NULL elsewhere:
        -- free to carry through the sorts); a reference row reads its track's at the end
        {%- for column in audio %}
        case
            when events.is_closed_repeat * tracks.has_audio = 1 then tracks.{{ column }}
        end as {{ column }},
        {%- endfor %}
        -- a closed first play the user repeated, of a track with audio features
        events.is_closed_repeat * tracks.has_audio as is_audio_repeat,
        -- a play's weight in the decayed sums, anchored at the listener's clock
        {%- for tau in var('decay_days') %}
        events.is_play
        * {{ decay_weight('events.event_at_us', 'listeners.clock_us', tau) }}
            as play_decay_{{ tau }}d,
        {%- endfor %}
        listeners.clock_us

    from events
    inner join listeners
        on events.user_id = listeners.user_id
    inner join tracks
        on events.track_key = tracks.track_key

)

select * from final
