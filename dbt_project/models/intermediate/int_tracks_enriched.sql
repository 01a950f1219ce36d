{{
    config(
        materialized='table',
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- One row per track known from a catalogue snapshot or seen in a play, with its artist
-- and a resolved genre (the track's own, else its artist's). Tracks seen only in plays
-- keep NULL attributes.

with

tracks as (

    select * from {{ ref('int_tracks_latest') }}

),

artists as (

    select * from {{ ref('int_artists_latest') }}

),

played_tracks as (

    select
        track_key,
        max(artist_key) as artist_key,
        min(source) as source

    from {{ ref('int_plays_unioned') }}
    group by track_key

),

all_track_keys as (

    select track_key from tracks
    union
    select track_key from played_tracks

),

enriched as (

    select
        all_track_keys.track_key,
        tracks.track_id,
        coalesce(tracks.artist_key, played_tracks.artist_key) as artist_key,
        tracks.track_name,
        artists.artist_name,
        tracks.album_name,
        coalesce(tracks.genre, artists.genre) as genre,
        tracks.duration_ms,
        tracks.danceability,
        tracks.energy,
        tracks.valence,
        tracks.acousticness,
        tracks.instrumentalness,
        tracks.speechiness,
        tracks.liveness,
        tracks.tempo,
        tracks.loudness,
        tracks.is_explicit,
        tracks.released_on,
        coalesce(tracks.source, played_tracks.source) as source,
        tracks.track_key is not null as has_catalogue_entry

    from all_track_keys
    left join tracks
        on all_track_keys.track_key = tracks.track_key
    left join played_tracks
        on all_track_keys.track_key = played_tracks.track_key
    left join artists
        on coalesce(tracks.artist_key, played_tracks.artist_key) = artists.artist_key

)

select * from enriched
