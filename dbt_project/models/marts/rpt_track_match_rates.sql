-- How well plays match known tracks, per play source (fct_plays.source): the plays (after
-- the 30 s rule and de-duplication) whose track resolved to a Spotify id, to a MusicBrainz
-- id or only to a normalized name, and those whose track has audio features or a
-- catalogue entry. "Share of plays matched to a known track" = spotify_key_share.

with

plays as (

    select
        source,
        track_key

    from {{ ref('fct_plays') }}

),

tracks as (

    select
        track_key,
        danceability,
        has_catalogue_entry

    from {{ ref('dim_tracks') }}

),

-- plays per (source, track) first: the per-source distinct track count is then a plain
-- count over a hash aggregate, not a count(distinct) that sorts every play
per_track as (

    select
        plays.source,
        plays.track_key,
        cast(count(*) as bigint) as play_count,
        max(case when tracks.danceability is not null then 1 else 0 end) as has_audio_features,
        max(case when tracks.has_catalogue_entry then 1 else 0 end) as has_catalogue_entry

    from plays
    left join tracks
        on plays.track_key = tracks.track_key
    group by plays.source, plays.track_key

),

per_source as (

    select
        source,
        cast(sum(play_count) as bigint) as play_count,
        cast(count(*) as bigint) as track_count,
        cast(
            sum(case when track_key like 'spotify:%' then play_count else 0 end) as bigint
        ) as spotify_key_play_count,
        cast(
            sum(case when track_key like 'mbid:%' then play_count else 0 end) as bigint
        ) as mbid_key_play_count,
        cast(
            sum(case when track_key like 'name:%' then play_count else 0 end) as bigint
        ) as name_key_play_count,
        cast(sum(has_audio_features * play_count) as bigint) as audio_feature_play_count,
        cast(sum(has_catalogue_entry * play_count) as bigint) as catalogue_play_count

    from per_track
    group by source

),

final as (

    select
        source,
        play_count,
        track_count,
        spotify_key_play_count,
        mbid_key_play_count,
        name_key_play_count,
        audio_feature_play_count,
        catalogue_play_count,
        cast(spotify_key_play_count as double precision) / play_count as spotify_key_share,
        cast(mbid_key_play_count as double precision) / play_count as mbid_key_share,
        cast(name_key_play_count as double precision) / play_count as name_key_share,
        cast(audio_feature_play_count as double precision) / play_count as audio_feature_share,
        cast(catalogue_play_count as double precision) / play_count as catalogue_share

    from per_source

)

select * from final
