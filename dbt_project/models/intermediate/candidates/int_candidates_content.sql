{{ config(materialized='table', pre_hook=["{{ set_work_mem() }}"],
          post_hook=["{{ analyze_relation() }}"]) }}

-- Generator `content`: the `content_candidates_per_user` tracks nearest (audio features,
-- tempo scaled by `audio_tempo_scale_bpm`) to the mean of the tracks the listener repeated
-- (first plays whose 30-day window had closed, repeated, by the reference point), among
-- the `content_pool_size` most played tracks with audio features as of the reference day,
-- that the listener had never played by then.

{%- set audio = audio_profile_columns() %}

with

reference_points as (

    select
        user_id,
        cutoff_number,
        as_of,
        as_of_day_us

    from {{ ref('int_candidate_reference_points') }}

),

tracks as (

    select
        track_key,
        danceability,
        energy,
        valence,
        acousticness,
        tempo / {{ var('audio_tempo_scale_bpm') }} as tempo_scaled

    from {{ ref('int_tracks_enriched') }}
    where
        danceability is not null and energy is not null and valence is not null
        and acousticness is not null and tempo is not null

),

first_plays as (

    select
        user_id,
        track_key,
        first_played_at

    from {{ ref('int_first_plays') }}

),

-- a CTE of its own, read once: PostgreSQL then plans the filter with the table's statistics
-- (through a CTE read twice it guessed 0.5% of the rows and nested-looped over the tracks)
repeated_first_plays as (

    select
        user_id,
        track_key,
        label_window_ends_at

    from {{ ref('int_first_plays') }}
    where is_repeated_within_window = 1

),

user_audio as (

    select
        {%- for column in audio %}
        avg(tracks.{{ column }}) as {{ column }},
        {%- endfor %}
        reference_points.user_id,
        reference_points.cutoff_number,
        reference_points.as_of,
        reference_points.as_of_day_us

    from reference_points
    inner join repeated_first_plays
        on
            reference_points.user_id = repeated_first_plays.user_id
            and reference_points.as_of >= repeated_first_plays.label_window_ends_at
    inner join tracks
        on repeated_first_plays.track_key = tracks.track_key
    group by
        reference_points.user_id, reference_points.cutoff_number, reference_points.as_of,
        reference_points.as_of_day_us

),

content_pool as (

    select
        popularity.as_of_day_us,
        tracks.*

    from {{ ref('int_track_popularity_daily') }} as popularity
    inner join tracks
        on popularity.track_key = tracks.track_key
    where popularity.audio_rank <= {{ var('content_pool_size') }}

),

distances as (

    select
        user_audio.user_id,
        user_audio.cutoff_number,
        user_audio.as_of,
        content_pool.track_key,
        {%- for column in audio %}
        power(content_pool.{{ column }} - user_audio.{{ column }}, 2)
        {{- ' +' if not loop.last }}
        {%- endfor %} as squared_distance

    from user_audio
    inner join content_pool
        on user_audio.as_of_day_us = content_pool.as_of_day_us
    left join first_plays
        on
            user_audio.user_id = first_plays.user_id
            and content_pool.track_key = first_plays.track_key
            and user_audio.as_of >= first_plays.first_played_at
    where first_plays.user_id is null

),

ranked as (

    select
        user_id,
        cutoff_number,
        as_of,
        track_key,
        row_number() over (
            partition by user_id, cutoff_number
            order by squared_distance asc, track_key asc
        ) as content_rank

    from distances

),

final as (

    select
        user_id,
        cutoff_number,
        as_of,
        track_key

    from ranked
    where content_rank <= {{ var('content_candidates_per_user') }}

)

select * from final
