with

source as (

    select * from {{ source('spotify', 'artists') }}

),

renamed as (

    select
        ---------- ids
        cast('spotify:' || artist_id as text) as artist_key,
        cast(artist_id as text) as artist_id,

        ---------- text
        cast(artist_name as text) as artist_name,
        -- Spotify lists an artist's genres most representative first
        cast({{ json_array_first_text('genres') }} as text) as genre,
        {{ json_to_text('genres') }} as genres,

        ---------- numerics
        cast(popularity as integer) as popularity,
        cast(followers as bigint) as followers,

        ---------- timestamps
        cast(fetched_at as timestamp with time zone) as fetched_at,

        ---------- batch metadata
        cast(_batch_id as text) as batch_id,
        cast(_source as text) as source,
        cast(_loaded_at as timestamp with time zone) as loaded_at,
        cast(_logical_date as date) as logical_date

    from source

)

select * from renamed
