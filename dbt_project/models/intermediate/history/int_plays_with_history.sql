{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem('1GB') }}", "{{ prefer_hash_joins() }}"],
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- Point-in-time features for every reference point: each first play (reference time =
-- played_at, "prior" = strictly before it; fct_pair_features) and each candidate
-- (reference time = its as_of, plays at as_of included; int_candidate_features), from the
-- running sums of one event stream (int_history_events ->
-- int_history_events_summed_across_listeners and _by_listener, its two halves), so training
-- and serving features cannot drift apart; a candidate's own plays of its track come from
-- int_candidate_plays_summed (zero or NULL at a first play). Here: the halves and the text
-- keys joined, label rates smoothed toward their parent level, and the sums turned into
-- features.

{%- set audio = audio_profile_columns() %}
{%- set decay_days = var('decay_days') %}

with

across_listeners as (

    select * from {{ ref('int_history_events_summed_across_listeners') }}

),

by_listener as (

    select * from {{ ref('int_history_events_summed_by_listener') }}

),

-- the two halves, one row each per reference point: USING keeps reference_id once, so
-- `*` takes every sum of both and a new one needs no column list here
running as (

    select *  -- noqa: RF02
    from across_listeners
    inner join by_listener using (reference_id)  -- noqa: ST07

),

-- the numbered keys are small tables with statistics: as views, their row_number() keys
-- had none, and PostgreSQL hashed every reference row to join them (1.6 s of 8 at a
-- million plays) instead of the keys
listeners as (

    select * from {{ ref('int_listeners_numbered') }}

),

tracks as (

    select * from {{ ref('int_tracks_numbered') }}

),

pair_plays as (

    select * from {{ ref('int_candidate_plays_summed') }}

),

reference_history as (

    select
        running.*,
        pair_plays.user_track_prior_plays,
        pair_plays.user_track_plays_short,
        pair_plays.user_track_plays_recent,
        pair_plays.user_track_plays_quarter,
        pair_plays.user_track_previous_play_at_us,
        pair_plays.user_track_first_play_at_us,
        pair_plays.user_track_plays_next,
        {%- for tau in decay_days %}
        pair_plays.user_track_decay_sum_{{ tau }}d,
        {%- endfor %}
        listeners.user_id,
        tracks.track_key,
        tracks.artist_key,
        tracks.genre,
        {%- for column in audio %}
        tracks.{{ column }},
        {%- endfor %}
        -- track_prior_repeat_rate counts other users only: the user's own pair leaves it
        -- once its window has closed (never the case at the pair's own first play)
        case
            when running.own_label_window_ends_at_us <= running.event_at_us then 1 else 0
        end as own_closed_pairs,
        case
            when running.own_label_window_ends_at_us <= running.event_at_us
                then running.own_is_repeated
            else 0
        end as own_closed_repeats

    from running
    inner join listeners
        on running.user_num = listeners.user_num
    inner join tracks
        on running.track_num = tracks.track_num
    left join pair_plays
        on
            running.reference_type = 'candidate'
            and running.reference_id = pair_plays.reference_id

),

-- Label rates smoothed toward their parent level (everyone -> the user -> the user and the
-- artist; everyone -> the track, the artist): a rate over a handful of closed first plays
-- says little on its own, so each adds `smoothing_*` pseudo-pairs at its parent's rate.
rates as (

    select
        reference_history.*,
        coalesce(
            cast(reference_history.global_closed_repeats as double precision)
            / nullif(reference_history.global_closed_pairs, 0),
            {{ var('prior_repeat_rate') }}
        ) as global_rate,
        -- the reference time itself (a candidate's event sits 1 us after its as_of)
        case
            when reference_history.reference_type = 'candidate'
                then reference_history.event_at_us - 1
            else reference_history.event_at_us
        end as reference_at_us

    from reference_history

),

smoothed as (

    select
        rates.*,
        (
            coalesce(rates.user_closed_repeats, 0)
            + {{ var('smoothing_user_pairs') }} * rates.global_rate
        ) / (coalesce(rates.user_closed_pairs, 0) + {{ var('smoothing_user_pairs') }})
            as user_rate_smoothed

    from rates

),

final as (

    select
        reference_id,
        reference_type,
        user_id,
        track_key,
        artist_key,
        genre,
        reference_at,
        cutoff_number,

        ---------- the user
        cast(coalesce(user_prior_plays, 0) as bigint) as user_prior_plays,
        cast(coalesce(user_plays_short, 0) as bigint) as user_plays_7d,
        cast(coalesce(user_plays_recent, 0) as bigint) as user_plays_30d,
        cast(
            case
                when user_plays_recent > 0
                    then
                        cast(coalesce(user_new_tracks_recent, 0) as double precision)
                        / user_plays_recent
            end
            as double precision
        ) as user_new_track_share_30d,
        cast(user_rate_smoothed as double precision) as user_repeat_rate_smoothed,
        -- the same over the windows that closed in the last 90 days (tastes drift), shrunk
        -- toward the user's overall rate
        cast(
            (
                coalesce(user_closed_repeats_quarter, 0)
                + {{ var('smoothing_user_pairs') }} * user_rate_smoothed
            ) / (coalesce(user_closed_pairs_quarter, 0) + {{ var('smoothing_user_pairs') }})
            as double precision
        ) as user_repeat_rate_90d_smoothed,
        cast(coalesce(user_prior_tracks, 0) as bigint) as user_prior_tracks,
        cast(coalesce(user_closed_pairs, 0) as bigint) as user_prior_labelled_pairs,
        cast(
            case
                when user_closed_pairs > 0
                    then cast(user_closed_repeats as double precision) / user_closed_pairs
            end
            as double precision
        ) as user_prior_repeat_rate,
        cast(
            (reference_at_us - user_previous_play_at_us) / 3600000000.0 as double precision
        ) as user_hours_since_prev_play,

        ---------- the track
        cast(coalesce(track_prior_plays, 0) as bigint) as track_prior_plays,
        cast(coalesce(track_prior_listeners, 0) as bigint) as track_prior_listeners,
        cast(
            case
                when coalesce(track_closed_pairs, 0) - own_closed_pairs > 0
                    then
                        cast(track_closed_repeats - own_closed_repeats as double precision)
                        / (track_closed_pairs - own_closed_pairs)
            end
            as double precision
        ) as track_prior_repeat_rate,
        cast(
            (
                coalesce(track_closed_repeats, 0) - own_closed_repeats
                + {{ var('smoothing_track_pairs') }} * global_rate
            ) / (
                coalesce(track_closed_pairs, 0) - own_closed_pairs
                + {{ var('smoothing_track_pairs') }}
            )
            as double precision
        ) as track_repeat_rate_smoothed,
        cast(coalesce(track_plays_short, 0) as bigint) as track_plays_7d,
        cast(coalesce(track_plays_long, 0) as bigint) as track_plays_28d,
        cast(
            case
                when track_plays_long > 0
                    then cast(coalesce(track_plays_short, 0) as double precision) / track_plays_long
            end
            as double precision
        ) as track_plays_trend,

        ---------- the artist (NULL when the artist is unknown)
        cast(
            case when artist_key is not null then coalesce(artist_prior_plays, 0) end
            as bigint
        ) as artist_prior_plays,
        cast(
            case
                when artist_key is not null and artist_closed_pairs > 0
                    then cast(artist_closed_repeats as double precision) / artist_closed_pairs
            end
            as double precision
        ) as artist_prior_repeat_rate,
        cast(
            case
                when artist_key is not null
                    then (
                        coalesce(artist_closed_repeats, 0)
                        + {{ var('smoothing_artist_pairs') }} * global_rate
                    ) / (coalesce(artist_closed_pairs, 0) + {{ var('smoothing_artist_pairs') }})
            end
            as double precision
        ) as artist_repeat_rate_smoothed,

        ---------- the user and the artist
        cast(
            case when artist_key is not null then coalesce(user_artist_prior_plays, 0) end
            as bigint
        ) as user_artist_prior_plays,
        cast(
            case when artist_key is not null then coalesce(user_artist_prior_tracks, 0) end
            as bigint
        ) as user_artist_prior_tracks,
        cast(
            case
                when artist_key is not null
                    then (reference_at_us - user_artist_previous_play_at_us) / 86400000000.0
            end
            as double precision
        ) as user_artist_days_since_last_play,
        cast(
            case when artist_key is not null then coalesce(user_artist_plays_recent, 0) end
            as bigint
        ) as user_artist_plays_30d,
        cast(
            case
                when artist_key is not null
                    then (
                        coalesce(user_artist_closed_repeats, 0)
                        + {{ var('smoothing_user_artist_pairs') }} * user_rate_smoothed
                    ) / (
                        coalesce(user_artist_closed_pairs, 0)
                        + {{ var('smoothing_user_artist_pairs') }}
                    )
            end
            as double precision
        ) as user_artist_repeat_rate_smoothed,

        ---------- the user and the track (candidates: the list model's inputs)
        cast(coalesce(user_track_prior_plays, 0) as bigint) as user_track_prior_plays,
        cast(coalesce(user_track_plays_short, 0) as bigint) as user_track_plays_7d,
        cast(coalesce(user_track_plays_recent, 0) as bigint) as user_track_plays_30d,
        cast(coalesce(user_track_plays_quarter, 0) as bigint) as user_track_plays_90d,
        cast(
            (reference_at_us - user_track_previous_play_at_us) / 86400000000.0
            as double precision
        ) as user_track_days_since_last_play,
        cast(
            (reference_at_us - user_track_first_play_at_us) / 86400000000.0
            as double precision
        ) as user_track_days_since_first_play,
        cast(coalesce(user_track_plays_next, 0) as bigint) as user_track_plays_next_30d,
        {%- for tau in decay_days %}
        cast(
            coalesce(user_track_decay_sum_{{ tau }}d, 0)
            * exp((clock_us - event_at_us) / cast({{ days_us(tau) }} as double precision))
            as double precision
        ) as user_track_plays_decayed_{{ tau }}d,
        {%- endfor %}
        cast(
            case
                when artist_key is not null
                    then
                        coalesce(user_artist_decay_sum_{{ decay_days[-1] }}d, 0)
                        * exp(
                            (clock_us - event_at_us)
                            / cast({{ days_us(decay_days[-1]) }} as double precision)
                        )
            end
            as double precision
        ) as user_artist_plays_decayed_{{ decay_days[-1] }}d,

        ---------- the user and the genre (NULL when the genre is unknown)
        cast(
            case
                when genre is not null and user_prior_plays > 0
                    then
                        cast(coalesce(user_genre_prior_plays, 0) as double precision)
                        / user_prior_plays
            end
            as double precision
        ) as user_genre_share,

        ---------- collaborative and content signals
        cast(coalesce(colisten_score, 0) as double precision) as colisten_score,
        cast(
            case
                when user_audio_repeats > 0 and danceability is not null
                    then sqrt(
                        {%- for column in audio %}
                        power({{ column }} - user_repeat_{{ column }}_sum / user_audio_repeats, 2)
                        {{- ' +' if not loop.last }}
                        {%- endfor %}
                    )
            end
            as double precision
        ) as user_repeat_audio_distance

    from smoothed

)

select * from final
