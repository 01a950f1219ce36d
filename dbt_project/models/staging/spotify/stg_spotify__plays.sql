with

source as (

    select * from {{ source('spotify', 'plays') }}

),

renamed as (

    select
        ---------- ids
        -- the Spotify user name is the listener's id
        cast(user_name as text) as user_id,
        -- the exports give a URI (spotify:track:<id>), the API an id; NULL when absent
        cast(nullif(replace(track_id, 'spotify:track:', ''), '') as text) as track_id,

        ---------- text
        cast(track_name as text) as track_name,
        cast(artist_name as text) as artist_name,
        cast(album_name as text) as album_name,
        cast(reason_start as text) as reason_start,
        cast(reason_end as text) as reason_end,
        cast(platform as text) as platform,
        cast(source_ref as text) as source_ref,

        ---------- numerics
        cast(ms_played as integer) as ms_played,

        ---------- booleans
        cast(shuffle as boolean) as is_shuffle,
        cast(skipped as boolean) as is_skipped,

        ---------- timestamps
        -- playback started ms_played before it ended; without ms_played (recently-played)
        -- the end time is all there is
        cast(
            coalesce({{ add_milliseconds('ended_at', '-1 * ms_played') }}, ended_at)
            as timestamp with time zone
        ) as played_at,
        cast(ended_at as timestamp with time zone) as ended_at,

        ---------- batch metadata
        cast(_batch_id as text) as batch_id,
        cast(_source as text) as source,
        cast(_loaded_at as timestamp with time zone) as loaded_at,
        cast(_logical_date as date) as logical_date

    from source

)

select * from renamed
