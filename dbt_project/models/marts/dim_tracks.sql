{{
    config(
        indexes=[{'columns': ['track_key'], 'unique': True}],
    )
}}

with

tracks as (

    select * from {{ ref('int_tracks_enriched') }}

),

final as (

    select
        track_key,
        track_id,
        artist_key,
        track_name,
        artist_name,
        album_name,
        genre,
        duration_ms,
        danceability,
        energy,
        valence,
        acousticness,
        instrumentalness,
        speechiness,
        liveness,
        tempo,
        loudness,
        is_explicit,
        released_on,
        popularity,
        lastfm_listeners,
        lastfm_top_tags,
        source,
        has_catalogue_entry

    from tracks

)

select * from final
