-- Latest snapshot of every track across load batches (by loaded_at).
-- The synthetic catalogue only: real catalogues (Kaggle, Spotify track objects) describe
-- the same track with different attributes and are combined in int_tracks_enriched.

with

track_versions as (

    select * from {{ ref('stg_synthetic__tracks') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by track_key
            order by loaded_at desc, logical_date desc, batch_id desc
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
        album_name,
        genre,
        duration_ms,
        danceability,
        energy,
        valence,
        acousticness,
        instrumentalness,
        speechiness,
        liveness,
        tempo,
        loudness,
        is_explicit,
        released_on,
        source,
        batch_id,
        loaded_at

    from ranked
    where version_rank = 1

)

select * from latest
