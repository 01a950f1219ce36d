{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem('1GB') }}", "{{ prefer_hash_joins() }}"],
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

{#-
    Point-in-time history for every reference point:
      - each play (reference time = played_at): fct_pair_features reads the first plays;
      - each candidate pair (reference time = as_of): fct_candidate_features.
    Both go through the very same window definitions, so training and serving features
    cannot drift apart.

    One event stream, ordered by epoch microseconds, holds the plays, the candidate
    reference points and one "label closure" event per first play (the moment its
    outcome became known: first_played_at + repeat_window_days). Running sums over
    "range between unbounded preceding and 1 preceding" frames then count, per reference
    point, the plays strictly before it (microsecond-exact). Closure events are placed
    1 us early, so the same frame counts the first plays whose window closed at or
    before the reference time. No self-joins: one sort per partitioning (artist, track,
    user + genre, user + artist, user), on integer surrogate keys, so it scales
    n log n with plays.

    Closure events also carry the track's audio features, so the user's running sums give
    the mean audio profile of the tracks they repeated (windows closed before the
    reference time): user_repeat_audio_distance. colisten_score is looked up (first plays
    and candidates only) in int_colisten_user_scores at the latest co-listening snapshot
    strictly before the reference time (macros/colisten.sql).
-#}

{%- set prior = 'order by event_at_us range between unbounded preceding and 1 preceding' -%}
{%- set short_us = days_us(var('track_recent_short_days')) -%}
{%- set long_us = days_us(var('track_recent_long_days')) -%}
{%- set recent_us = days_us(var('candidate_recent_days')) -%}
{%- set quarter_us = days_us(90) -%}
{%- set window_us = days_us(var('repeat_window_days')) | int -%}
{#- time constants (days) of the decayed play counts: sum of exp(-age / tau) -#}
{%- set decay_days = var('decay_days') -%}
{#- "the last n days before the reference point", strictly before it -#}
{%- set last_short = 'range between ' ~ short_us ~ ' preceding and 1 preceding' -%}
{%- set last_recent = 'range between ' ~ recent_us ~ ' preceding and 1 preceding' -%}
{%- set last_quarter = 'range between ' ~ quarter_us ~ ' preceding and 1 preceding' -%}
{%- set audio = ['danceability', 'energy', 'valence', 'acousticness', 'tempo_scaled'] %}

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

---------- integer surrogate keys: sorting on them is much cheaper than on text

tracks as (

    select
        track_key,
        artist_key,
        genre,
        danceability,
        energy,
        valence,
        acousticness,
        tempo / {{ var('audio_tempo_scale_bpm') }} as tempo_scaled,
        case
            when
                danceability is not null and energy is not null and valence is not null
                and acousticness is not null and tempo is not null
                then 1
            else 0
        end as has_audio,
        row_number() over (order by track_key) as track_num

    from {{ ref('int_tracks_enriched') }}

),

distinct_artists as (

    select distinct artist_key
    from tracks
    where artist_key is not null

),

artist_nums as (

    select
        artist_key,
        row_number() over (order by artist_key) as artist_num

    from distinct_artists

),

distinct_genres as (

    select distinct genre
    from tracks
    where genre is not null

),

genre_nums as (

    select
        genre,
        row_number() over (order by genre) as genre_num

    from distinct_genres

),

-- each listener's clock anchors their decayed play sums (exp((t - clock) / tau) <= 1)
user_nums as (

    select
        user_id,
        {{ epoch_us('clock') }} as clock_us,
        row_number() over (order by user_id) as user_num

    from {{ ref('int_listener_clocks') }}

),

track_nums as (

    select
        tracks.track_key,
        tracks.track_num,
        tracks.artist_key,
        artist_nums.artist_num,
        tracks.genre,
        genre_nums.genre_num,
        {%- for column in audio %}
        case when tracks.has_audio = 1 then tracks.{{ column }} end as {{ column }},
        {%- endfor %}
        tracks.has_audio

    from tracks
    left join artist_nums
        on tracks.artist_key = artist_nums.artist_key
    left join genre_nums
        on tracks.genre = genre_nums.genre

),

---------- the event stream

reference_points as (

    select
        plays.play_id as reference_id,
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
        own_is_repeated

    from reference_points

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
        null as own_is_repeated

    from first_plays

),

-- only narrow columns go through the sorts; the text keys are joined back at the end
keyed_events as (

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
        user_nums.user_num,
        track_nums.track_num,
        track_nums.artist_num,
        track_nums.genre_num,
        -- audio features only on the closures of repeated first plays (NULL elsewhere:
        -- free to carry through the sorts); a reference row reads its track's at the end
        {%- for column in audio %}
        case
            when events.is_closed_repeat * track_nums.has_audio = 1 then track_nums.{{ column }}
        end as {{ column }},
        {%- endfor %}
        -- a closed first play the user repeated, of a track with audio features
        events.is_closed_repeat * track_nums.has_audio as is_audio_repeat,
        -- a play's weight in the decayed sums, anchored at the listener's clock
        {%- for tau in decay_days %}
        -- (clamped: PostgreSQL's exp() raises on underflow; e^-700 is 0 for any purpose)
        events.is_play * exp(greatest(
            (events.event_at_us - user_nums.clock_us)
            / cast({{ days_us(tau) }} as double precision), -700.0
        )) as play_decay_{{ tau }}d,
        {%- endfor %}
        user_nums.clock_us

    from events
    inner join user_nums
        on events.user_id = user_nums.user_id
    inner join track_nums
        on events.track_key = track_nums.track_key

),

running as (

    select
        reference_id,
        reference_type,
        cutoff_number,
        user_num,
        track_num,
        artist_num,
        genre_num,
        reference_at,
        event_at_us,
        own_label_window_ends_at_us,
        own_is_repeated,
        is_first_play,

        ---------- everyone: the label rate every smoothed rate shrinks toward
        sum(is_label_closure) over ({{ prior }}) as global_closed_pairs,
        sum(is_closed_repeat) over ({{ prior }}) as global_closed_repeats,

        ---------- the user
        sum(is_play) over (partition by user_num {{ prior }}) as user_prior_plays,
        sum(is_play) over (
            partition by user_num order by event_at_us {{ last_short }}
        ) as user_plays_short,
        sum(is_play) over (
            partition by user_num order by event_at_us {{ last_recent }}
        ) as user_plays_recent,
        sum(is_first_play) over (
            partition by user_num order by event_at_us {{ last_recent }}
        ) as user_new_tracks_recent,
        sum(is_label_closure) over (
            partition by user_num order by event_at_us {{ last_quarter }}
        ) as user_closed_pairs_quarter,
        sum(is_closed_repeat) over (
            partition by user_num order by event_at_us {{ last_quarter }}
        ) as user_closed_repeats_quarter,
        sum(is_first_play) over (partition by user_num {{ prior }}) as user_prior_tracks,
        max(case when is_play = 1 then event_at_us end) over (
            partition by user_num {{ prior }}
        ) as user_previous_play_at_us,
        sum(is_label_closure) over (partition by user_num {{ prior }}) as user_closed_pairs,
        sum(is_closed_repeat) over (partition by user_num {{ prior }}) as user_closed_repeats,
        sum(is_audio_repeat) over (partition by user_num {{ prior }}) as user_audio_repeats,
        {%- for column in audio %}
        sum({{ column }}) over (
            partition by user_num {{ prior }}
        ) as user_repeat_{{ column }}_sum,
        {%- endfor %}

        ---------- the track
        sum(is_play) over (partition by track_num {{ prior }}) as track_prior_plays,
        sum(is_first_play) over (partition by track_num {{ prior }}) as track_prior_listeners,
        sum(is_label_closure) over (partition by track_num {{ prior }}) as track_closed_pairs,
        sum(is_closed_repeat) over (partition by track_num {{ prior }}) as track_closed_repeats,
        sum(is_play) over (
            partition by track_num
            order by event_at_us
            range between {{ short_us }} preceding and 1 preceding
        ) as track_plays_short,
        sum(is_play) over (
            partition by track_num
            order by event_at_us
            range between {{ long_us }} preceding and 1 preceding
        ) as track_plays_long,

        ---------- the artist
        sum(is_play) over (partition by artist_num {{ prior }}) as artist_prior_plays,
        sum(is_label_closure) over (partition by artist_num {{ prior }}) as artist_closed_pairs,
        sum(is_closed_repeat) over (
            partition by artist_num {{ prior }}
        ) as artist_closed_repeats,

        ---------- the user and the artist
        sum(is_play) over (
            partition by user_num, artist_num {{ prior }}
        ) as user_artist_prior_plays,
        sum(is_first_play) over (
            partition by user_num, artist_num {{ prior }}
        ) as user_artist_prior_tracks,
        max(case when is_play = 1 then event_at_us end) over (
            partition by user_num, artist_num {{ prior }}
        ) as user_artist_previous_play_at_us,
        sum(is_play) over (
            partition by user_num, artist_num order by event_at_us {{ last_recent }}
        ) as user_artist_plays_recent,
        sum(is_label_closure) over (
            partition by user_num, artist_num {{ prior }}
        ) as user_artist_closed_pairs,
        sum(is_closed_repeat) over (
            partition by user_num, artist_num {{ prior }}
        ) as user_artist_closed_repeats,

        ---------- the user and the track (all zero at a first play, by definition)
        {%- for tau in decay_days %}
        sum(play_decay_{{ tau }}d) over (
            partition by user_num, track_num {{ prior }}
        ) as user_track_decay_sum_{{ tau }}d,
        {%- endfor %}
        sum(play_decay_{{ decay_days[-1] }}d) over (
            partition by user_num, artist_num {{ prior }}
        ) as user_artist_decay_sum_{{ decay_days[-1] }}d,
        clock_us,
        sum(is_play) over (
            partition by user_num, track_num {{ prior }}
        ) as user_track_prior_plays,
        sum(is_play) over (
            partition by user_num, track_num order by event_at_us {{ last_short }}
        ) as user_track_plays_short,
        sum(is_play) over (
            partition by user_num, track_num order by event_at_us {{ last_recent }}
        ) as user_track_plays_recent,
        sum(is_play) over (
            partition by user_num, track_num order by event_at_us {{ last_quarter }}
        ) as user_track_plays_quarter,
        max(case when is_play = 1 then event_at_us end) over (
            partition by user_num, track_num {{ prior }}
        ) as user_track_previous_play_at_us,
        min(case when is_play = 1 then event_at_us end) over (
            partition by user_num, track_num {{ prior }}
        ) as user_track_first_play_at_us,
        -- the outcome, for the list model's past cut-offs: plays in (as_of, as_of + window]
        -- (the reference sits at as_of + 1 us); never read as a feature
        sum(is_play) over (
            partition by user_num, track_num
            order by event_at_us
            range between current row and {{ window_us - 1 }} following
        ) as user_track_plays_next,

        ---------- the user and the genre
        sum(is_play) over (
            partition by user_num, genre_num {{ prior }}
        ) as user_genre_prior_plays

    from keyed_events

),

reference_history as (

    select
        running.*,
        user_nums.user_id,
        track_nums.track_key,
        track_nums.artist_key,
        track_nums.genre,
        {%- for column in audio %}
        track_nums.{{ column }},
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
    inner join user_nums
        on running.user_num = user_nums.user_num
    inner join track_nums
        on running.track_num = track_nums.track_num
    where running.reference_type in ('play', 'candidate')

),

colisten_scores as (

    select
        user_id,
        snapshot_at_us,
        track_key,
        colisten_score

    from {{ ref('int_colisten_user_scores') }}

),

-- colisten_score only where a mart reads it: first plays and candidates
with_colisten as (

    select
        reference_history.*,
        colisten_scores.colisten_score

    from reference_history
    left join colisten_scores
        on
            (reference_history.is_first_play = 1 or reference_history.reference_type = 'candidate')
            and reference_history.user_id = colisten_scores.user_id
            and reference_history.track_key = colisten_scores.track_key
            and {{ colisten_snapshot_before('reference_history.event_at_us') }}
            = colisten_scores.snapshot_at_us

),

-- Label rates smoothed toward their parent level (everyone -> the user -> the user and the
-- artist; everyone -> the track, the artist): a rate over a handful of closed first plays
-- says little on its own, so each adds `smoothing_*` pseudo-pairs at its parent's rate.
rates as (

    select
        with_colisten.*,
        coalesce(
            cast(with_colisten.global_closed_repeats as double precision)
            / nullif(with_colisten.global_closed_pairs, 0),
            {{ var('prior_repeat_rate') }}
        ) as global_rate,
        -- the reference time itself (a candidate's event sits 1 us after its as_of)
        case
            when with_colisten.reference_type = 'candidate'
                then with_colisten.event_at_us - 1
            else with_colisten.event_at_us
        end as reference_at_us

    from with_colisten

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
