with

source as (

    select * from {{ source('spotify', 'track_matches') }}

),

renamed as (

    select
        ---------- ids
        -- NULL when the search found nothing
        cast(nullif(track_id, '') as text) as track_id,

        ---------- text
        cast(query_artist as text) as query_artist_name,
        cast(query_title as text) as query_track_name,
        cast(matched_artist as text) as matched_artist_name,
        cast(matched_title as text) as matched_track_name,

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
