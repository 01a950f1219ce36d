{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem() }}"],
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- Candidate (user, track) pairs to score, for the active users: those with a play in the
-- `candidate_recent_days` up to as_of (the latest play in the warehouse).
--   listened          the user's own tracks of that period;
--   popular_in_genre  the `candidates_per_genre` most played tracks of that period in each
--                     of the user's `candidate_top_genres` genres (by the user's plays of
--                     that period), that the user never played;
--   co_listened       the `colisten_candidates_per_user` tracks the user never played with
--                     the highest colisten_score at the latest co-listening snapshot
--                     strictly before as_of (int_colisten_user_scores: co-listening
--                     neighbours of the user's most played tracks of that window);
--   content           the `content_candidates_per_user` tracks the user never played
--                     nearest (audio features, tempo scaled) to the mean of the tracks the
--                     user repeated (is_repeated_within_window, known by as_of), among the
--                     `content_pool_size` most played tracks with audio features;
--   popular           the most played tracks overall (that period, then all time, then
--                     by Spotify popularity: catalogue tracks nobody played yet) that
--                     the user never played and no other generator proposed, topping
--                     every active user up to `min_candidates_per_user`.
-- One row per (user, track): candidate_sources lists every generator that proposed it
-- (comma-separated, in the order listened, co_listened, content, popular_in_genre,
-- popular); candidate_source is the first of them.

with

plays as (

    select
        user_id,
        track_key,
        played_at

    from {{ ref('int_plays_sessionized') }}

),

tracks as (

    select
        track_key,
        artist_key,
        genre,
        popularity,
        danceability,
        energy,
        valence,
        acousticness,
        tempo / {{ var('audio_tempo_scale_bpm') }} as tempo_scaled,
        (
            danceability is not null and energy is not null and valence is not null
            and acousticness is not null and tempo is not null
        ) as has_audio

    from {{ ref('int_tracks_enriched') }}

),

as_of as (

    select max(played_at) as as_of from plays

),

recent_plays as (

    select
        plays.user_id,
        plays.track_key,
        tracks.genre

    from plays
    cross join as_of
    left join tracks
        on plays.track_key = tracks.track_key
    where
        plays.played_at
        >= {{ add_days('as_of.as_of', -1 * var('candidate_recent_days')) }}

),

ever_played as (

    select distinct
        user_id,
        track_key

    from plays

),

listened as (

    select distinct
        user_id,
        track_key

    from recent_plays

),

active_users as (

    select distinct user_id from recent_plays

),

user_genres as (

    select
        user_id,
        genre,
        row_number() over (
            partition by user_id order by count(*) desc, genre asc
        ) as genre_rank

    from recent_plays
    where genre is not null
    group by user_id, genre

),

recent_track_plays as (

    select
        track_key,
        count(*) as n_plays

    from recent_plays
    group by track_key

),

all_time_track_plays as (

    select
        track_key,
        count(*) as n_plays

    from plays
    group by track_key

),

track_popularity as (

    select
        tracks.track_key,
        tracks.genre,
        coalesce(recent_track_plays.n_plays, 0) as recent_plays,
        coalesce(all_time_track_plays.n_plays, 0) as all_time_plays,
        coalesce(tracks.popularity, -1) as catalogue_popularity,
        tracks.has_audio,
        tracks.danceability,
        tracks.energy,
        tracks.valence,
        tracks.acousticness,
        tracks.tempo_scaled

    from tracks
    left join recent_track_plays
        on tracks.track_key = recent_track_plays.track_key
    left join all_time_track_plays
        on tracks.track_key = all_time_track_plays.track_key

),

genre_popular as (

    select
        track_key,
        genre,
        row_number() over (
            partition by genre
            order by recent_plays desc, all_time_plays desc, track_key asc
        ) as genre_popularity_rank

    from track_popularity
    where genre is not null and recent_plays > 0

),

popular_in_genre as (

    select distinct
        user_genres.user_id,
        genre_popular.track_key

    from user_genres
    inner join genre_popular
        on user_genres.genre = genre_popular.genre
    left join ever_played
        on
            user_genres.user_id = ever_played.user_id
            and genre_popular.track_key = ever_played.track_key
    where
        user_genres.genre_rank <= {{ var('candidate_top_genres') }}
        and genre_popular.genre_popularity_rank <= {{ var('candidates_per_genre') }}
        and ever_played.user_id is null

),

---------- co_listened: the co-listening snapshot strictly before as_of

colisten_scores as (

    select
        scores.user_id,
        scores.track_key,
        scores.colisten_score

    from {{ ref('int_colisten_user_scores') }} as scores
    cross join as_of
    where
        scores.snapshot_at_us
        = {{ colisten_snapshot_before(epoch_us('as_of.as_of')) }}

),

co_listened_ranked as (

    select
        colisten_scores.user_id,
        colisten_scores.track_key,
        row_number() over (
            partition by colisten_scores.user_id
            order by colisten_scores.colisten_score desc, colisten_scores.track_key asc
        ) as colisten_rank

    from colisten_scores
    inner join active_users
        on colisten_scores.user_id = active_users.user_id
    left join ever_played
        on
            colisten_scores.user_id = ever_played.user_id
            and colisten_scores.track_key = ever_played.track_key
    where ever_played.user_id is null

),

co_listened as (

    select
        user_id,
        track_key

    from co_listened_ranked
    where colisten_rank <= {{ var('colisten_candidates_per_user') }}

),

---------- content: audio-feature neighbours of the user's repeated tracks

repeated_tracks as (

    select
        first_plays.user_id,
        tracks.danceability,
        tracks.energy,
        tracks.valence,
        tracks.acousticness,
        tracks.tempo_scaled

    from {{ ref('int_first_plays') }} as first_plays
    inner join active_users
        on first_plays.user_id = active_users.user_id
    inner join tracks
        on first_plays.track_key = tracks.track_key
    where first_plays.is_repeated_within_window = 1 and tracks.has_audio

),

user_audio as (

    select
        user_id,
        avg(danceability) as danceability,
        avg(energy) as energy,
        avg(valence) as valence,
        avg(acousticness) as acousticness,
        avg(tempo_scaled) as tempo_scaled

    from repeated_tracks
    group by user_id

),

content_pool as (

    select
        track_key,
        danceability,
        energy,
        valence,
        acousticness,
        tempo_scaled

    from (
        select
            track_key,
            danceability,
            energy,
            valence,
            acousticness,
            tempo_scaled,
            row_number() over (
                order by
                    recent_plays desc, all_time_plays desc, catalogue_popularity desc,
                    track_key asc
            ) as pool_rank

        from track_popularity
        where has_audio
    ) as pool
    where pool_rank <= {{ var('content_pool_size') }}

),

-- the pool tracks each user played (small: keeps the anti-join below cheap)
played_in_pool as (

    select
        ever_played.user_id,
        ever_played.track_key

    from ever_played
    inner join content_pool
        on ever_played.track_key = content_pool.track_key

),

content_distances as (

    select
        user_audio.user_id,
        content_pool.track_key,
        power(content_pool.danceability - user_audio.danceability, 2)
        + power(content_pool.energy - user_audio.energy, 2)
        + power(content_pool.valence - user_audio.valence, 2)
        + power(content_pool.acousticness - user_audio.acousticness, 2)
        + power(content_pool.tempo_scaled - user_audio.tempo_scaled, 2) as squared_distance

    from user_audio
    cross join content_pool

),

content_ranked as (

    select
        content_distances.user_id,
        content_distances.track_key,
        row_number() over (
            partition by content_distances.user_id
            order by content_distances.squared_distance asc, content_distances.track_key asc
        ) as content_rank

    from content_distances
    left join played_in_pool
        on
            content_distances.user_id = played_in_pool.user_id
            and content_distances.track_key = played_in_pool.track_key
    where played_in_pool.user_id is null

),

content as (

    select
        user_id,
        track_key

    from content_ranked
    where content_rank <= {{ var('content_candidates_per_user') }}

),

---------- the union, one row per (user, track) with its generators

generated as (

    select
        user_id,
        track_key,
        1 as from_listened,
        0 as from_co_listened,
        0 as from_content,
        0 as from_popular_in_genre

    from listened

    union all

    select
        user_id,
        track_key,
        0 as from_listened,
        1 as from_co_listened,
        0 as from_content,
        0 as from_popular_in_genre

    from co_listened

    union all

    select
        user_id,
        track_key,
        0 as from_listened,
        0 as from_co_listened,
        1 as from_content,
        0 as from_popular_in_genre

    from content

    union all

    select
        user_id,
        track_key,
        0 as from_listened,
        0 as from_co_listened,
        0 as from_content,
        1 as from_popular_in_genre

    from popular_in_genre

),

merged_candidates as (

    select
        user_id,
        track_key,
        max(from_listened) as from_listened,
        max(from_co_listened) as from_co_listened,
        max(from_content) as from_content,
        max(from_popular_in_genre) as from_popular_in_genre,
        0 as from_popular

    from generated
    group by user_id, track_key

),

candidate_counts as (

    select
        active_users.user_id,
        count(merged_candidates.track_key) as n_candidates

    from active_users
    left join merged_candidates
        on active_users.user_id = merged_candidates.user_id
    group by active_users.user_id

),

popular_pool as (

    select
        track_key,
        row_number() over (
            order by
                recent_plays desc, all_time_plays desc, catalogue_popularity desc, track_key asc
        ) as popularity_rank

    from track_popularity

),

popular_fill as (

    select
        candidate_counts.user_id,
        popular_pool.track_key,
        candidate_counts.n_candidates,
        row_number() over (
            partition by candidate_counts.user_id order by popular_pool.popularity_rank
        ) as fill_rank

    from candidate_counts
    cross join popular_pool
    left join ever_played
        on
            candidate_counts.user_id = ever_played.user_id
            and popular_pool.track_key = ever_played.track_key
    left join merged_candidates
        on
            candidate_counts.user_id = merged_candidates.user_id
            and popular_pool.track_key = merged_candidates.track_key
    where
        candidate_counts.n_candidates < {{ var('min_candidates_per_user') }}
        and popular_pool.popularity_rank <= {{ var('popular_pool_size') }}
        and ever_played.user_id is null
        and merged_candidates.user_id is null

),

all_candidates as (

    select
        user_id,
        track_key,
        from_listened,
        from_co_listened,
        from_content,
        from_popular_in_genre,
        from_popular

    from merged_candidates

    union all

    select
        user_id,
        track_key,
        0 as from_listened,
        0 as from_co_listened,
        0 as from_content,
        0 as from_popular_in_genre,
        1 as from_popular

    from popular_fill
    where fill_rank <= {{ var('min_candidates_per_user') }} - n_candidates

),

final as (

    select
        all_candidates.user_id,
        all_candidates.track_key,
        tracks.artist_key,
        tracks.genre,
        case
            when all_candidates.from_listened = 1 then 'listened'
            when all_candidates.from_co_listened = 1 then 'co_listened'
            when all_candidates.from_content = 1 then 'content'
            when all_candidates.from_popular_in_genre = 1 then 'popular_in_genre'
            else 'popular'
        end as candidate_source,
        rtrim(
            case when all_candidates.from_listened = 1 then 'listened,' else '' end
            || case when all_candidates.from_co_listened = 1 then 'co_listened,' else '' end
            || case when all_candidates.from_content = 1 then 'content,' else '' end
            || case
                when all_candidates.from_popular_in_genre = 1 then 'popular_in_genre,' else ''
            end
            || case when all_candidates.from_popular = 1 then 'popular,' else '' end,
            ','
        ) as candidate_sources,
        as_of.as_of

    from all_candidates
    cross join as_of
    left join tracks
        on all_candidates.track_key = tracks.track_key

)

select * from final
