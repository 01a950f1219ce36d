-- Latest snapshot of every artist across load batches (by loaded_at): synthetic artists
-- and Spotify artist objects (both keyed spotify:<artist_id>). Artists known only by a
-- name or a MusicBrainz id have no catalogue entry (dim_artists adds them from tracks).
-- Other artist sources are added to `artist_versions`.

with

artist_versions as (

    select
        artist_key,
        artist_id,
        artist_name,
        genre,
        source,
        batch_id,
        loaded_at,
        logical_date

    from {{ ref('stg_synthetic__artists') }}

    union all

    select
        artist_key,
        artist_id,
        artist_name,
        genre,
        source,
        batch_id,
        loaded_at,
        logical_date

    from {{ ref('stg_spotify__artists') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by artist_key
            order by loaded_at desc, logical_date desc, batch_id desc
        ) as version_rank

    from artist_versions

),

latest as (

    select
        artist_key,
        artist_id,
        artist_name,
        genre,
        source,
        batch_id,
        loaded_at

    from ranked
    where version_rank = 1

)

select * from latest
