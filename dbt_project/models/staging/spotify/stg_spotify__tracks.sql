with

source as (

    select * from {{ source('spotify', 'tracks') }}

),

renamed as (

    select
        ---------- ids
        cast('spotify:' || track_id as text) as track_key,
        cast(track_id as text) as track_id,
        -- the first artist listed is the primary one
        cast('spotify:' || {{ json_array_first_text('artist_ids') }} as text) as artist_key,
        cast({{ json_array_first_text('artist_ids') }} as text) as artist_id,
        cast(album_id as text) as album_id,
        cast(isrc as text) as isrc,

        ---------- text
        cast(track_name as text) as track_name,
        cast({{ json_array_first_text('artist_names') }} as text) as artist_name,
        {{ json_to_text('artist_ids') }} as artist_ids,
        {{ json_to_text('artist_names') }} as artist_names,
        cast(album_name as text) as album_name,
        cast(release_date as text) as release_date,

        ---------- numerics
        cast(duration_ms as integer) as duration_ms,
        cast(popularity as integer) as popularity,

        ---------- booleans
        cast(explicit as boolean) as is_explicit,

        ---------- dates
        -- Spotify gives the release date to the year, month or day ('0000' when unknown)
        case
            when release_date like '0000%' then null
            when length(release_date) = 4 then cast(release_date || '-01-01' as date)
            when length(release_date) = 7 then cast(release_date || '-01' as date)
            when length(release_date) = 10 then cast(release_date as date)
        end as released_on,

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
