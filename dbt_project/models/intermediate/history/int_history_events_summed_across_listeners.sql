{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem('1GB') }}", "{{ prefer_hash_joins() }}"],
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- Each reference point of int_history_events (first plays and candidates) with the running
-- sums over everyone's events strictly before it (RANGE frames over epoch microseconds
-- ending 1 us before the event): everyone's, the track's and the artist's. The listener's
-- own sums are int_history_events_summed_by_listener's, over the same stream and built at
-- the same time (one query is one core: two halves use both), joined by
-- int_plays_with_history; the user and the track are int_candidate_plays_summed's. Two
-- full sorts of the stream, on integer keys (by time; by artist and track), the artist's
-- windows an incremental sort within the artist order. Label closures sit 1 us early
-- (int_history_events), so "strictly before" counts the windows that closed at or before
-- the reference time.

{%- set prior = 'order by event_at_us range between unbounded preceding and 1 preceding' -%}
{%- set short_us = days_us(var('track_recent_short_days')) -%}
{%- set long_us = days_us(var('track_recent_long_days')) -%}
{%- set by_track = 'partition by artist_num, track_num' %}

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

summed as (

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
        clock_us,

        ---------- everyone: the label rate every smoothed rate shrinks toward
        global_closed_pairs,
        global_closed_repeats,

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
        ) as artist_closed_repeats

    from globally_summed

),

-- the reference points (label closures and later plays have none); `is not null` rather
-- than a test of reference_type, which PostgreSQL cannot estimate through the window
-- functions (it guessed 1 % of the rows and misplanned the joins after them)
final as (

    select * from summed
    where reference_id is not null

)

select * from final
