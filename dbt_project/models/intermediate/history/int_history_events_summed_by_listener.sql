{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem('1GB') }}", "{{ prefer_hash_joins() }}"],
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- Each reference point of int_history_events (first plays and candidates) with the running
-- sums over its listener's own events strictly before it (RANGE frames over epoch
-- microseconds ending 1 us before the event): the user's, the user and the artist's, the
-- user and the genre's. The other half of int_history_events_summed_across_listeners,
-- which carries the reference point's own columns; only the key and the sums here, so the
-- sorts stay narrow. One full sort of the stream by user and genre, the user and artist's
-- and the user's windows incremental sorts within the user order.

{%- set prior = 'order by event_at_us range between unbounded preceding and 1 preceding' -%}
{%- set recent_us = days_us(var('candidate_recent_days')) -%}
{%- set short_us = days_us(var('track_recent_short_days')) -%}
{%- set quarter_us = days_us(90) -%}
{%- set decay_days = var('decay_days') -%}
{%- set audio = audio_profile_columns() -%}
{#- "the last n days before the reference point", strictly before it -#}
{%- set last_short = 'range between ' ~ short_us ~ ' preceding and 1 preceding' -%}
{%- set last_recent = 'range between ' ~ recent_us ~ ' preceding and 1 preceding' -%}
{%- set last_quarter = 'range between ' ~ quarter_us ~ ' preceding and 1 preceding' %}

with

events as (

    select * from {{ ref('int_history_events') }}

),

summed as (

    select
        reference_id,

        ---------- the user and the genre
        sum(is_play) over (
            partition by user_num, genre_num {{ prior }}
        ) as user_genre_prior_plays,

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
        -- the decayed plays (the list model's)
        sum(play_decay_{{ decay_days[-1] }}d) over (
            partition by user_num, artist_num {{ prior }}
        ) as user_artist_decay_sum_{{ decay_days[-1] }}d,

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
        {%- for column in audio %}
        sum({{ column }}) over (
            partition by user_num {{ prior }}
        ) as user_repeat_{{ column }}_sum,
        {%- endfor %}
        sum(is_audio_repeat) over (partition by user_num {{ prior }}) as user_audio_repeats

    from events

),

-- the reference points only (see int_history_events_summed_across_listeners)
final as (

    select * from summed
    where reference_id is not null

)

select * from final
