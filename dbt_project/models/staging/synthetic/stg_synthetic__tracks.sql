with

source as (

    select * from {{ source('raw', 'synthetic_tracks') }}

),

renamed as (

    select
        ---------- ids
        -- canonical keys: synthetic tracks and artists carry Spotify-like ids
        cast('spotify:' || track_id as text) as track_key,
        cast(track_id as text) as track_id,
        cast('spotify:' || artist_id as text) as artist_key,
        cast(artist_id as text) as artist_id,

        ---------- text
        cast(track_name as text) as track_name,
        cast(album_name as text) as album_name,
        cast(genre as text) as genre,

        ---------- numerics
        cast(duration_ms as integer) as duration_ms,
        cast(danceability as double precision) as danceability,
        cast(energy as double precision) as energy,
        cast(valence as double precision) as valence,
        cast(acousticness as double precision) as acousticness,
        cast(instrumentalness as double precision) as instrumentalness,
        cast(speechiness as double precision) as speechiness,
        cast(liveness as double precision) as liveness,
        cast(tempo as double precision) as tempo,
        cast(loudness as double precision) as loudness,

        ---------- booleans
        cast(explicit as boolean) as is_explicit,

        ---------- dates
        cast(released_on as date) as released_on,

        ---------- batch metadata
        cast(_batch_id as text) as batch_id,
        cast(_source as text) as source,
        cast(_loaded_at as timestamp with time zone) as loaded_at,
        cast(_logical_date as date) as logical_date

    from source

)

select * from renamed
