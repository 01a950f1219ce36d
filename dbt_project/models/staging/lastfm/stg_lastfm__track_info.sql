with

source as (

    select * from {{ source('lastfm', 'track_info') }}

),

renamed as (

    select
        ---------- ids
        -- Last.fm sends '' for an unknown MusicBrainz id
        cast(nullif(lower(trim(track_mbid)), '') as text) as track_mbid,

        ---------- text
        cast(artist_name as text) as artist_name,
        cast(track_name as text) as track_name,
        -- the top tags as JSON text, as Last.fm ranks them
        {{ json_to_text('top_tags') }} as top_tags,

        ---------- numerics
        -- 0 means unknown
        cast(nullif(duration_ms, 0) as integer) as duration_ms,
        cast(listeners as bigint) as listeners,
        cast(playcount as bigint) as playcount,

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
