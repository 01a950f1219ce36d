{{
    config(
        indexes=[{'columns': ['artist_key'], 'unique': True}],
    )
}}

with

artists as (

    select * from {{ ref('int_artists_latest') }}

),

tracks as (

    select * from {{ ref('int_tracks_enriched') }}

),

-- artists referenced by a track, with the name the tracks give them (artists known only
-- by a name or a MusicBrainz id are in no artist catalogue)
track_artists as (

    select
        artist_key,
        min(artist_name) as artist_name,
        min(source) as source,
        cast(count(*) as bigint) as track_count

    from tracks
    where artist_key is not null
    group by artist_key

),

all_artist_keys as (

    select artist_key from artists
    union
    select artist_key from track_artists

),

final as (

    select
        all_artist_keys.artist_key,
        artists.artist_id,
        coalesce(artists.artist_name, track_artists.artist_name) as artist_name,
        artists.genre,
        coalesce(artists.source, track_artists.source) as source,
        coalesce(track_artists.track_count, 0) as track_count

    from all_artist_keys
    left join artists
        on all_artist_keys.artist_key = artists.artist_key
    left join track_artists
        on all_artist_keys.artist_key = track_artists.artist_key

)

select * from final
