with

source as (

    select * from {{ source('kaggle', 'tracks') }}

),

renamed as (

    select
        ---------- ids
        cast('spotify:' || track_id as text) as track_key,
        cast(track_id as text) as track_id,
        cast(source_row as integer) as source_row,

        ---------- text
        -- all artists, ';'-separated, primary first (int_kaggle_tracks_deduplicated splits)
        cast(artists as text) as artist_names,
        cast(track_name as text) as track_name,
        cast(album_name as text) as album_name,
        cast(track_genre as text) as genre,

        ---------- numerics
        cast(popularity as integer) as popularity,
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
        cast(key as integer) as pitch_class,
        cast(mode as integer) as modality,
        cast(time_signature as integer) as time_signature,

        ---------- booleans
        cast(explicit as boolean) as is_explicit,

        ---------- batch metadata
        cast(_batch_id as text) as batch_id,
        cast(_source as text) as source,
        cast(_loaded_at as timestamp with time zone) as loaded_at,
        cast(_logical_date as date) as logical_date

    from source

)

select * from renamed
