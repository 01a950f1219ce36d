-- Latest fetch of every Spotify track object (by fetched_at, then loaded_at).

with

track_versions as (

    select * from {{ ref('stg_spotify__tracks') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by track_key
            order by fetched_at desc, loaded_at desc, logical_date desc, batch_id desc
        ) as version_rank

    from track_versions

),

latest as (

    select
        track_key,
        track_id,
        artist_key,
        artist_id,
        track_name,
        artist_name,
        album_name,
        duration_ms,
        popularity,
        is_explicit,
        released_on,
        isrc,
        source,
        batch_id,
        loaded_at

    from ranked
    where version_rank = 1

)

select * from latest
