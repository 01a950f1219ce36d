{{ config(materialized='table', post_hook=["{{ analyze_relation() }}"]) }}

-- Every track with integer surrogate keys for itself, its artist and its genre (the event
-- stream sorts on them: much cheaper than on text) and its audio profile, NULL unless all
-- five audio features are known.

{%- set audio = audio_profile_columns() %}

with

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

final as (

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

)

select * from final
