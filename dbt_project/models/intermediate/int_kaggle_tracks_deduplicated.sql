-- One row per Kaggle track. The dataset lists a track once per genre it belongs to (same
-- audio features, another track_genre); the genre kept is the one the track's primary
-- artist has the most rows under, ties alphabetical: a track listed under "dance" and
-- "pop" by an artist listed mostly under "dance" is "dance". Of a row loaded more than
-- once, the latest load counts.

with

kaggle_rows as (

    select
        *,
        -- the first of the ';'-separated artists is the primary one
        nullif(trim(split_part(artist_names, ';', 1)), '') as artist_name

    from {{ ref('stg_kaggle__tracks') }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by track_id, genre
            order by loaded_at desc, logical_date desc, batch_id desc, source_row asc
        ) as version_rank

    from kaggle_rows

),

current_rows as (

    select * from versioned
    where version_rank = 1

),

artist_genres as (

    select
        artist_name,
        genre,
        count(*) as artist_genre_rows

    from current_rows
    where artist_name is not null
    group by artist_name, genre

),

genre_ranked as (

    select
        current_rows.*,
        row_number() over (
            partition by current_rows.track_id
            order by
                coalesce(artist_genres.artist_genre_rows, 0) desc,
                current_rows.genre asc
        ) as genre_rank,
        count(*) over (partition by current_rows.track_id) as genre_count

    from current_rows
    left join artist_genres
        on
            current_rows.artist_name = artist_genres.artist_name
            and current_rows.genre = artist_genres.genre

),

deduplicated as (

    select
        track_key,
        track_id,
        artist_name,
        artist_names,
        track_name,
        album_name,
        genre,
        cast(genre_count as integer) as genre_count,
        popularity,
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
        pitch_class,
        modality,
        time_signature,
        is_explicit,
        source,
        batch_id,
        loaded_at

    from genre_ranked
    where genre_rank = 1

)

select * from deduplicated
