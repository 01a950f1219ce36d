{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem() }}"],
        post_hook=["{{ analyze_relation() }}"],
    )
}}

-- Cross-listener popularity as of each day a reference point falls in
-- (int_candidate_reference_points.as_of_day_us): per track, the plays of every listener in
-- the `candidate_recent_days` before that day's 00:00 UTC (strictly before every reference
-- point of the day), ranked overall and within its genre. Catalogue tracks nobody played
-- then (the `popular_pool_size` most popular by the catalogue's own popularity) are ranked
-- after the played ones, so the popular fill has tracks to offer in any era.

with

reference_days as (

    select distinct as_of_day_us
    from {{ ref('int_candidate_reference_points') }}

),

plays as (

    select
        track_key,
        {{ day_start_us('played_at') }} as play_day_us

    from {{ ref('int_plays_sessionized') }}

),

-- plays per track and UTC day: a reference day's window is whole days (it starts at 00:00
-- UTC), so counting days in it equals counting its plays
daily_plays as (

    select
        play_day_us,
        track_key,
        count(*) as day_plays

    from plays
    group by play_day_us, track_key

),

play_days as (

    select distinct play_day_us
    from daily_plays

),

tracks as (

    select
        track_key,
        genre,
        coalesce(popularity, -1) as catalogue_popularity,
        (
            danceability is not null and energy is not null and valence is not null
            and acousticness is not null and tempo is not null
        ) as has_audio

    from {{ ref('int_tracks_enriched') }}

),

-- the days with plays in each reference day's window: a small range join (days x days),
-- so the plays themselves join by equality
window_days as (

    select
        reference_days.as_of_day_us,
        play_days.play_day_us

    from reference_days
    inner join play_days
        on
            reference_days.as_of_day_us > play_days.play_day_us
            and play_days.play_day_us
            >= reference_days.as_of_day_us - {{ days_us(var('candidate_recent_days')) }}

),

recent_counts as (

    select
        window_days.as_of_day_us,
        daily_plays.track_key,
        cast(sum(daily_plays.day_plays) as bigint) as recent_plays

    from window_days
    inner join daily_plays
        on window_days.play_day_us = daily_plays.play_day_us
    group by window_days.as_of_day_us, daily_plays.track_key

),

catalogue_top as (

    select track_key
    from (
        select
            track_key,
            row_number() over (order by catalogue_popularity desc, track_key asc) as rank_
        from tracks
    ) as ranked
    where rank_ <= {{ var('popular_pool_size') }}

),

pool as (

    select
        as_of_day_us,
        track_key,
        recent_plays

    from recent_counts

    union all

    select
        reference_days.as_of_day_us,
        catalogue_top.track_key,
        0 as recent_plays

    from reference_days
    cross join catalogue_top
    left join recent_counts
        on
            reference_days.as_of_day_us = recent_counts.as_of_day_us
            and catalogue_top.track_key = recent_counts.track_key
    where recent_counts.track_key is null

),

final as (

    select
        pool.as_of_day_us,
        pool.track_key,
        tracks.genre,
        tracks.has_audio,
        cast(pool.recent_plays as bigint) as recent_plays,
        row_number() over (
            partition by pool.as_of_day_us
            order by pool.recent_plays desc, tracks.catalogue_popularity desc, pool.track_key asc
        ) as popularity_rank,
        case
            when tracks.genre is not null and pool.recent_plays > 0 then
                row_number() over (
                    partition by pool.as_of_day_us, tracks.genre
                    order by pool.recent_plays desc, pool.track_key asc
                )
        end as genre_rank,
        case
            when tracks.has_audio then
                row_number() over (
                    partition by pool.as_of_day_us, tracks.has_audio
                    order by
                        pool.recent_plays desc, tracks.catalogue_popularity desc, pool.track_key asc
                )
        end as audio_rank

    from pool
    inner join tracks
        on pool.track_key = tracks.track_key

)

select * from final
where
    popularity_rank <= {{ var('popular_pool_size') }}
    or genre_rank <= {{ var('candidates_per_genre') }}
    or audio_rank <= {{ var('content_pool_size') }}
