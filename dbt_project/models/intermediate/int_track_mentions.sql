-- Every way a source names a track, one row per distinct mention: the ids and names as
-- loaded, how many plays used it and how much the source is trusted to name a track.
-- int_track_identities resolves each mention to a track_key; int_plays_unioned finds a
-- play's mention by the same mention_id (macro track_mention_id).
--
--   mention_source         what it holds                                  mention_priority
--   spotify_tracks         Spotify track objects: id, primary artist         1
--                          (with its Spotify id), title
--   kaggle                 Kaggle tracks (one per id): id, primary artist,   2
--                          title
--   spotify_plays          Spotify plays: id when the export has it,         3
--                          artist, title
--   lastfm_scrobbles       scrobbles: MusicBrainz ids when known, artist,    4
--                          title
--   spotify_track_matches  search answers: the (artist, title) asked and     5
--                          the id found (latest answer per question; no
--                          answer, no mention)
--   lastfm_track_info      track.getInfo answers: MusicBrainz id when        6
--                          known, artist, title
--
-- mention_priority orders the sources that name a track (dim_tracks' titles) and give
-- its artist: catalogue entries first.

with

spotify_tracks as (

    select
        'spotify_tracks' as mention_source,
        1 as mention_priority,
        track_id as spotify_track_id,
        cast(null as text) as track_mbid,
        artist_name,
        track_name,
        album_name,
        artist_id as spotify_artist_id,
        cast(null as text) as artist_mbid,
        cast(null as text) as matched_artist_name,
        popularity,
        cast(0 as bigint) as play_count

    from {{ ref('int_spotify_tracks_latest') }}

),

kaggle as (

    select
        'kaggle' as mention_source,
        2 as mention_priority,
        track_id as spotify_track_id,
        cast(null as text) as track_mbid,
        artist_name,
        track_name,
        album_name,
        cast(null as text) as spotify_artist_id,
        cast(null as text) as artist_mbid,
        cast(null as text) as matched_artist_name,
        popularity,
        cast(0 as bigint) as play_count

    from {{ ref('int_kaggle_tracks_deduplicated') }}

),

spotify_plays as (

    select
        'spotify_plays' as mention_source,
        3 as mention_priority,
        track_id as spotify_track_id,
        cast(null as text) as track_mbid,
        artist_name,
        track_name,
        max(album_name) as album_name,
        cast(null as text) as spotify_artist_id,
        cast(null as text) as artist_mbid,
        cast(null as text) as matched_artist_name,
        cast(null as integer) as popularity,
        cast(count(*) as bigint) as play_count

    from {{ ref('stg_spotify__plays') }}
    group by track_id, artist_name, track_name

),

lastfm_scrobbles as (

    select
        'lastfm_scrobbles' as mention_source,
        4 as mention_priority,
        cast(null as text) as spotify_track_id,
        track_mbid,
        artist_name,
        track_name,
        max(album_name) as album_name,
        cast(null as text) as spotify_artist_id,
        max(artist_mbid) as artist_mbid,
        cast(null as text) as matched_artist_name,
        cast(null as integer) as popularity,
        cast(count(*) as bigint) as play_count

    from {{ ref('stg_lastfm__scrobbles') }}
    group by track_mbid, artist_name, track_name

),

match_answers as (

    select
        *,
        row_number() over (
            partition by query_artist_name, query_track_name
            order by fetched_at desc, loaded_at desc, batch_id desc
        ) as answer_rank

    from {{ ref('stg_spotify__track_matches') }}

),

spotify_track_matches as (

    select
        'spotify_track_matches' as mention_source,
        5 as mention_priority,
        track_id as spotify_track_id,
        cast(null as text) as track_mbid,
        query_artist_name as artist_name,
        query_track_name as track_name,
        cast(null as text) as album_name,
        cast(null as text) as spotify_artist_id,
        cast(null as text) as artist_mbid,
        matched_artist_name,
        cast(null as integer) as popularity,
        cast(0 as bigint) as play_count

    from match_answers
    where answer_rank = 1 and track_id is not null

),

lastfm_track_info as (

    select distinct
        'lastfm_track_info' as mention_source,
        6 as mention_priority,
        cast(null as text) as spotify_track_id,
        track_mbid,
        artist_name,
        track_name,
        cast(null as text) as album_name,
        cast(null as text) as spotify_artist_id,
        cast(null as text) as artist_mbid,
        cast(null as text) as matched_artist_name,
        cast(null as integer) as popularity,
        cast(0 as bigint) as play_count

    from {{ ref('stg_lastfm__track_info') }}

),

unioned as (

    select * from spotify_tracks
    union all
    select * from kaggle
    union all
    select * from spotify_plays
    union all
    select * from lastfm_scrobbles
    union all
    select * from spotify_track_matches
    union all
    select * from lastfm_track_info

),

final as (

    select
        {{ track_mention_id(
            'mention_source', 'spotify_track_id', 'track_mbid', 'artist_name', 'track_name'
        ) }} as mention_id,
        mention_source,
        mention_priority,
        spotify_track_id,
        track_mbid,
        artist_name,
        track_name,
        album_name,
        spotify_artist_id,
        artist_mbid,
        matched_artist_name,
        popularity,
        play_count

    from unioned

)

select * from final
