with

source as (

    select * from {{ source('raw', 'synthetic_artists') }}

),

renamed as (

    select
        ---------- ids
        -- canonical key: synthetic artists carry Spotify-like ids
        cast('spotify:' || artist_id as text) as artist_key,
        cast(artist_id as text) as artist_id,

        ---------- text
        cast(artist_name as text) as artist_name,
        cast(genre as text) as genre,

        ---------- batch metadata
        cast(_batch_id as text) as batch_id,
        cast(_source as text) as source,
        cast(_loaded_at as timestamp with time zone) as loaded_at,
        cast(_logical_date as date) as logical_date

    from source

)

select * from renamed
