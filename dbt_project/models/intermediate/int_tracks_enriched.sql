{{
    config(
        materialized='table',
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- One row per track known from a catalogue or seen in a play, with its artist, a resolved
-- genre (the track's own, else its artist's) and what the sources know about it.
--   synthetic tracks  the synthetic catalogue (int_tracks_latest), as it is;
--   real tracks       one per track_key of int_track_identities:
--                       title and artist: the Spotify track object, else the most trusted
--                       mention (Kaggle, then the most played);
--                       audio features, genre: the Kaggle row of the same Spotify id, else
--                       the most popular Kaggle row of the same normalized artist + title;
--                       album, duration, release date, popularity: the Spotify track object
--                       first, then Kaggle;
--                       Last.fm listeners and tags: the latest track.getInfo of the track;
--   tracks seen only in plays keep NULL attributes (has_catalogue_entry false).

with

synthetic_tracks as (

    select * from {{ ref('int_tracks_latest') }}

),

artists as (

    select * from {{ ref('int_artists_latest') }}

),

identities as (

    select * from {{ ref('int_track_identities') }}
    where track_key is not null

),

kaggle_tracks as (

    select * from {{ ref('int_kaggle_tracks_deduplicated') }}

),

spotify_tracks as (

    select * from {{ ref('int_spotify_tracks_latest') }}

),

---------- real tracks

-- the mention that names each track: the most trusted source, then the most played
track_mentions as (

    select
        *,
        row_number() over (
            partition by track_key
            order by mention_priority asc, play_count desc, mention_id asc
        ) as mention_rank

    from identities

),

named_tracks as (

    select * from track_mentions
    where mention_rank = 1

),

kaggle_by_name as (

    select
        name_key,
        spotify_track_id as kaggle_track_id,
        row_number() over (
            partition by name_key
            order by coalesce(popularity, -1) desc, spotify_track_id asc
        ) as kaggle_rank

    from identities
    where mention_source = 'kaggle' and name_key is not null

),

lastfm_info_versions as (

    select
        identities.track_key,
        track_info.listeners,
        track_info.top_tags,
        track_info.duration_ms,
        row_number() over (
            partition by identities.track_key
            order by
                track_info.fetched_at desc,
                track_info.loaded_at desc,
                coalesce(track_info.listeners, -1) desc
        ) as info_rank

    from {{ ref('stg_lastfm__track_info') }} as track_info
    inner join identities
        on
            {{ track_mention_id(
                "'lastfm_track_info'", 'null', 'track_info.track_mbid',
                'track_info.artist_name', 'track_info.track_name'
            ) }} = identities.mention_id

),

lastfm_info as (

    select * from lastfm_info_versions
    where info_rank = 1

),

kaggle_matched as (

    select
        named_tracks.track_key,
        coalesce(kaggle_by_id.track_id, kaggle_by_name.kaggle_track_id) as kaggle_track_id

    from named_tracks
    left join kaggle_tracks as kaggle_by_id
        on named_tracks.resolved_spotify_track_id = kaggle_by_id.track_id
    left join kaggle_by_name
        on
            named_tracks.name_key = kaggle_by_name.name_key
            and kaggle_by_name.kaggle_rank = 1

),

real_tracks as (

    select
        named_tracks.track_key,
        coalesce(
            named_tracks.resolved_spotify_track_id, named_tracks.resolved_track_mbid
        ) as track_id,
        named_tracks.artist_key,
        coalesce(spotify_tracks.track_name, named_tracks.track_name) as track_name,
        coalesce(spotify_tracks.artist_name, named_tracks.artist_name) as artist_name,
        coalesce(
            spotify_tracks.album_name, kaggle_tracks.album_name, named_tracks.album_name
        ) as album_name,
        kaggle_tracks.genre,
        coalesce(
            spotify_tracks.duration_ms, kaggle_tracks.duration_ms, lastfm_info.duration_ms
        ) as duration_ms,
        kaggle_tracks.danceability,
        kaggle_tracks.energy,
        kaggle_tracks.valence,
        kaggle_tracks.acousticness,
        kaggle_tracks.instrumentalness,
        kaggle_tracks.speechiness,
        kaggle_tracks.liveness,
        kaggle_tracks.tempo,
        kaggle_tracks.loudness,
        coalesce(spotify_tracks.is_explicit, kaggle_tracks.is_explicit) as is_explicit,
        spotify_tracks.released_on,
        coalesce(spotify_tracks.popularity, kaggle_tracks.popularity) as popularity,
        lastfm_info.listeners as lastfm_listeners,
        lastfm_info.top_tags as lastfm_top_tags,
        coalesce(spotify_tracks.source, kaggle_tracks.source) as source,
        spotify_tracks.track_id is not null
        or kaggle_tracks.track_id is not null as has_catalogue_entry

    from named_tracks
    left join spotify_tracks
        on named_tracks.resolved_spotify_track_id = spotify_tracks.track_id
    left join kaggle_matched
        on named_tracks.track_key = kaggle_matched.track_key
    left join kaggle_tracks
        on kaggle_matched.kaggle_track_id = kaggle_tracks.track_id
    left join lastfm_info
        on named_tracks.track_key = lastfm_info.track_key

),

---------- all tracks

catalogue as (

    select
        track_key,
        track_id,
        artist_key,
        track_name,
        cast(null as text) as artist_name,
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
        cast(null as integer) as popularity,
        cast(null as bigint) as lastfm_listeners,
        cast(null as text) as lastfm_top_tags,
        source,
        true as has_catalogue_entry

    from synthetic_tracks

    union all

    select real_tracks.*
    from real_tracks
    left join synthetic_tracks
        on real_tracks.track_key = synthetic_tracks.track_key
    where synthetic_tracks.track_key is null

),

played_tracks as (

    select
        track_key,
        max(artist_key) as artist_key,
        min(source) as source

    from {{ ref('int_plays_unioned') }}
    group by track_key

),

all_track_keys as (

    select track_key from catalogue
    union
    select track_key from played_tracks

),

enriched as (

    select
        all_track_keys.track_key,
        catalogue.track_id,
        coalesce(catalogue.artist_key, played_tracks.artist_key) as artist_key,
        catalogue.track_name,
        coalesce(artists.artist_name, catalogue.artist_name) as artist_name,
        catalogue.album_name,
        coalesce(catalogue.genre, artists.genre) as genre,
        catalogue.duration_ms,
        catalogue.danceability,
        catalogue.energy,
        catalogue.valence,
        catalogue.acousticness,
        catalogue.instrumentalness,
        catalogue.speechiness,
        catalogue.liveness,
        catalogue.tempo,
        catalogue.loudness,
        catalogue.is_explicit,
        catalogue.released_on,
        catalogue.popularity,
        catalogue.lastfm_listeners,
        catalogue.lastfm_top_tags,
        coalesce(catalogue.source, played_tracks.source) as source,
        coalesce(catalogue.has_catalogue_entry, false) as has_catalogue_entry

    from all_track_keys
    left join catalogue
        on all_track_keys.track_key = catalogue.track_key
    left join played_tracks
        on all_track_keys.track_key = played_tracks.track_key
    left join artists
        on coalesce(catalogue.artist_key, played_tracks.artist_key) = artists.artist_key

)

select * from enriched
