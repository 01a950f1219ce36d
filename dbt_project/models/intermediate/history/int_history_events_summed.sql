-- Running sums over int_history_events, one row per event: per reference point, what
-- happened strictly before it (RANGE frames over epoch microseconds ending 1 us before the
-- event), for everyone, the user, the track, the artist, the user and the artist, the user
-- and the genre. No self-joins: on integer keys, PostgreSQL sorts the whole stream three
-- times (by time; by artist and track; by user and genre) and sorts incrementally within
-- those orders for the rest, so it scales n log n with events. The user and the track
-- (only candidates carry those) are summed by int_candidate_plays_summed, one join instead
-- of six passes here. Label closures sit 1 us early (int_history_events), so "strictly
-- before" counts the windows that closed at or before the reference time.

{%- set prior = 'order by event_at_us range between unbounded preceding and 1 preceding' -%}
{%- set short_us = days_us(var('track_recent_short_days')) -%}
{%- set long_us = days_us(var('track_recent_long_days')) -%}
{%- set recent_us = days_us(var('candidate_recent_days')) -%}
{%- set quarter_us = days_us(90) -%}
{%- set decay_days = var('decay_days') -%}
{%- set audio = audio_profile_columns() -%}
{%- set by_track = 'partition by artist_num, track_num' -%}
{#- "the last n days before the reference point", strictly before it -#}
{%- set last_short = 'range between ' ~ short_us ~ ' preceding and 1 preceding' -%}
{%- set last_recent = 'range between ' ~ recent_us ~ ' preceding and 1 preceding' -%}
{%- set last_quarter = 'range between ' ~ quarter_us ~ ' preceding and 1 preceding' %}

with

events as (

    select * from {{ ref('int_history_events') }}

),

-- everyone's sums first, while the rows are narrow: PostgreSQL runs a window over no
-- partition last otherwise, and sorted every column the other windows had added on disk
globally_summed as (

    select
        events.*,
        sum(events.is_label_closure) over ({{ prior }}) as global_closed_pairs,
        sum(events.is_closed_repeat) over ({{ prior }}) as global_closed_repeats

    from events

),

final as (

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
        colisten_score,

        ---------- everyone: the label rate every smoothed rate shrinks toward
        global_closed_pairs,
        global_closed_repeats,

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

        ---------- the track: partitioned by its artist too, which changes nothing (a track has
        ---------- one artist) but lets the artist's windows reuse the order: one sort of the
        ---------- whole stream fewer (the artist's is an incremental sort per artist)
        sum(is_play) over ({{ by_track }} {{ prior }}) as track_prior_plays,
        sum(is_first_play) over ({{ by_track }} {{ prior }}) as track_prior_listeners,
        sum(is_label_closure) over ({{ by_track }} {{ prior }}) as track_closed_pairs,
        sum(is_closed_repeat) over ({{ by_track }} {{ prior }}) as track_closed_repeats,
        sum(is_play) over (
            {{ by_track }}
            order by event_at_us
            range between {{ short_us }} preceding and 1 preceding
        ) as track_plays_short,
        sum(is_play) over (
            {{ by_track }}
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

        ---------- the user and the artist's decayed plays (the list model's)
        sum(play_decay_{{ decay_days[-1] }}d) over (
            partition by user_num, artist_num {{ prior }}
        ) as user_artist_decay_sum_{{ decay_days[-1] }}d,
        clock_us,

        ---------- the user and the genre
        sum(is_play) over (
            partition by user_num, genre_num {{ prior }}
        ) as user_genre_prior_plays

    from globally_summed

)

select * from final
