with

source as (

    select * from {{ source('raw', 'synthetic_plays') }}

),

renamed as (

    select
        ---------- ids
        cast(user_id as text) as user_id,
        -- canonical key: synthetic tracks carry Spotify-like ids
        cast('spotify:' || track_id as text) as track_key,
        cast(track_id as text) as track_id,

        ---------- numerics
        cast(ms_played as integer) as ms_played,

        ---------- timestamps
        cast(played_at as timestamp with time zone) as played_at,

        ---------- batch metadata
        cast(_batch_id as text) as batch_id,
        cast(_source as text) as source,
        cast(_loaded_at as timestamp with time zone) as loaded_at,
        cast(_logical_date as date) as logical_date

    from source

)

select * from renamed
