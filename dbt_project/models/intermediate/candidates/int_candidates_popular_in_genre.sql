{{ config(materialized='table', post_hook=["{{ analyze_relation() }}"]) }}

-- Generator `popular_in_genre`: the `candidates_per_genre` most played tracks of each of the
-- listener's `candidate_top_genres` genres (by their own plays of the
-- `candidate_recent_days` up to the reference point), popular as of the reference day
-- (int_track_popularity_daily), that the listener had never played by then.

with

reference_points as (

    select
        user_id,
        cutoff_number,
        as_of,
        as_of_day_us

    from {{ ref('int_candidate_reference_points') }}

),

recent_genres as (

    select
        listened.user_id,
        listened.cutoff_number,
        tracks.genre,
        count(*) as n_tracks

    from {{ ref('int_candidates_listened') }} as listened
    inner join {{ ref('int_tracks_enriched') }} as tracks
        on listened.track_key = tracks.track_key
    where tracks.genre is not null
    group by listened.user_id, listened.cutoff_number, tracks.genre

),

top_genres as (

    select
        user_id,
        cutoff_number,
        genre

    from (
        select
            user_id,
            cutoff_number,
            genre,
            row_number() over (
                partition by user_id, cutoff_number order by n_tracks desc, genre asc
            ) as genre_rank

        from recent_genres
    ) as ranked
    where genre_rank <= {{ var('candidate_top_genres') }}

),

genre_popular as (

    select
        as_of_day_us,
        genre,
        track_key

    from {{ ref('int_track_popularity_daily') }}
    where genre_rank <= {{ var('candidates_per_genre') }}

),

first_plays as (

    select
        user_id,
        track_key,
        first_played_at

    from {{ ref('int_first_plays') }}

),

final as (

    select
        reference_points.user_id,
        reference_points.cutoff_number,
        reference_points.as_of,
        genre_popular.track_key

    from reference_points
    inner join top_genres
        on
            reference_points.user_id = top_genres.user_id
            and reference_points.cutoff_number = top_genres.cutoff_number
    inner join genre_popular
        on
            reference_points.as_of_day_us = genre_popular.as_of_day_us
            and top_genres.genre = genre_popular.genre
    left join first_plays
        on
            reference_points.user_id = first_plays.user_id
            and genre_popular.track_key = first_plays.track_key
            and reference_points.as_of >= first_plays.first_played_at
    where first_plays.user_id is null

)

select * from final
