with

source as (

    select * from {{ source('lastfm', 'scrobbles') }}

),

renamed as (

    select
        ---------- ids
        -- the Last.fm user name is the listener's id
        cast(user_name as text) as user_id,
        -- Last.fm sends '' for an unknown MusicBrainz id
        cast(nullif(lower(trim(track_mbid)), '') as text) as track_mbid,
        cast(nullif(lower(trim(artist_mbid)), '') as text) as artist_mbid,
        cast(nullif(lower(trim(album_mbid)), '') as text) as album_mbid,

        ---------- text
        cast(artist_name as text) as artist_name,
        cast(track_name as text) as track_name,
        cast(album_name as text) as album_name,
        cast(source_ref as text) as source_ref,

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
