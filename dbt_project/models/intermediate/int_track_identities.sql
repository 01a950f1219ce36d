{{
    config(
        materialized='table',
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- Track identity (docs/data_contracts.md): every mention (int_track_mentions) resolves to
-- one track_key, the first of
--   1. spotify:<id>  its own Spotify id (a search answer's only when the artist found is
--                    the artist asked for, after normalization);
--   2. spotify:<id>  the Spotify id that mentions with ids give the same normalized
--                    artist + title (macros normalize_artist_name / normalize_track_name):
--                    ids seen in Spotify plays and track objects first, then search
--                    answers, then Kaggle; within a tier the most played, the most
--                    popular, the smallest id;
--   3. mbid:<id>     the MusicBrainz recording id scrobbled most with that normalized
--                    name, else the mention's own;
--   4. name:<artist>|<title>  the normalized names.
-- A mention with no id and not both names resolves to nothing (track_key NULL).
-- artist_key, by the same rule for the primary artist: the artist of the resolved Spotify
-- track object, else the Spotify artist id / MusicBrainz artist id seen most with that
-- normalized artist name, else name:<artist>; then one artist per track_key (the most
-- trusted mention's: mention_priority, then plays), so plays and dim_tracks agree.

with

mentions as (

    select * from {{ ref('int_track_mentions') }}

),

-- each distinct name is normalized once (macros normalize_artist_name / _track_name)
artist_names as (

    select
        artist_name,
        {{ normalize_artist_name('artist_name') }} as artist_norm

    from (
        select artist_name from mentions
        union
        select matched_artist_name as artist_name from mentions
    ) as all_artist_names
    where artist_name is not null
    group by artist_name

),

track_names as (

    select
        track_name,
        {{ normalize_track_name('track_name') }} as title_norm

    from mentions
    where track_name is not null
    group by track_name

),

normalized as (

    select
        mentions.*,
        artist_names.artist_norm,
        track_names.title_norm,
        matched_artist_names.artist_norm as matched_artist_norm

    from mentions
    left join artist_names
        on mentions.artist_name = artist_names.artist_name
    left join track_names
        on mentions.track_name = track_names.track_name
    left join artist_names as matched_artist_names
        on mentions.matched_artist_name = matched_artist_names.artist_name

),

named as (

    select
        mention_id,
        mention_source,
        mention_priority,
        spotify_track_id,
        track_mbid,
        artist_name,
        track_name,
        album_name,
        spotify_artist_id,
        artist_mbid,
        popularity,
        play_count,
        artist_norm,
        title_norm,
        case
            when artist_norm is not null and title_norm is not null
                then artist_norm || '|' || title_norm
        end as name_key,
        -- a search answer counts only when it found the artist asked for
        case
            when
                mention_source != 'spotify_track_matches'
                or matched_artist_norm is null
                or matched_artist_norm = artist_norm
                then spotify_track_id
        end as trusted_spotify_track_id

    from normalized

),

---------- look-ups by normalized artist + title

name_spotify_candidates as (

    select
        name_key,
        trusted_spotify_track_id as spotify_track_id,
        min(
            case
                when mention_source in ('spotify_plays', 'spotify_tracks') then 1
                when mention_source = 'spotify_track_matches' then 2
                else 3
            end
        ) as lookup_tier,
        sum(play_count) as play_count,
        max(coalesce(popularity, -1)) as popularity

    from named
    where name_key is not null and trusted_spotify_track_id is not null
    group by name_key, trusted_spotify_track_id

),

name_spotify_ids as (

    select
        name_key,
        spotify_track_id

    from (
        select
            *,
            row_number() over (
                partition by name_key
                order by lookup_tier asc, play_count desc, popularity desc, spotify_track_id asc
            ) as candidate_rank

        from name_spotify_candidates
    ) as ranked
    where candidate_rank = 1

),

name_mbid_candidates as (

    select
        name_key,
        track_mbid,
        sum(play_count) as play_count,
        count(*) as mention_count

    from named
    where name_key is not null and track_mbid is not null
    group by name_key, track_mbid

),

name_mbids as (

    select
        name_key,
        track_mbid

    from (
        select
            *,
            row_number() over (
                partition by name_key
                order by play_count desc, mention_count desc, track_mbid asc
            ) as candidate_rank

        from name_mbid_candidates
    ) as ranked
    where candidate_rank = 1

),

---------- artist look-ups

-- the primary artist of each Spotify track object
track_spotify_artists as (

    select
        spotify_track_id,
        spotify_artist_id

    from named
    where mention_source = 'spotify_tracks' and spotify_artist_id is not null

),

artist_spotify_candidates as (

    select
        artist_norm,
        spotify_artist_id,
        count(*) as track_count

    from named
    where artist_norm is not null and spotify_artist_id is not null
    group by artist_norm, spotify_artist_id

),

artist_spotify_ids as (

    select
        artist_norm,
        spotify_artist_id

    from (
        select
            *,
            row_number() over (
                partition by artist_norm
                order by track_count desc, spotify_artist_id asc
            ) as candidate_rank

        from artist_spotify_candidates
    ) as ranked
    where candidate_rank = 1

),

artist_mbid_candidates as (

    select
        artist_norm,
        artist_mbid,
        sum(play_count) as play_count,
        count(*) as mention_count

    from named
    where artist_norm is not null and artist_mbid is not null
    group by artist_norm, artist_mbid

),

artist_mbids as (

    select
        artist_norm,
        artist_mbid

    from (
        select
            *,
            row_number() over (
                partition by artist_norm
                order by play_count desc, mention_count desc, artist_mbid asc
            ) as candidate_rank

        from artist_mbid_candidates
    ) as ranked
    where candidate_rank = 1

),

---------- resolution

methods as (

    select
        named.*,
        case
            when named.trusted_spotify_track_id is not null then 'spotify_id'
            when name_spotify_ids.spotify_track_id is not null then 'spotify_name'
            when coalesce(name_mbids.track_mbid, named.track_mbid) is not null then 'mbid'
            when named.name_key is not null then 'name'
        end as identity_method,
        coalesce(
            named.trusted_spotify_track_id, name_spotify_ids.spotify_track_id
        ) as resolved_spotify_track_id,
        coalesce(name_mbids.track_mbid, named.track_mbid) as name_track_mbid

    from named
    left join name_spotify_ids
        on named.name_key = name_spotify_ids.name_key
    left join name_mbids
        on named.name_key = name_mbids.name_key

),

resolved as (

    select
        methods.*,
        case
            when methods.identity_method = 'mbid' then methods.name_track_mbid
        end as resolved_track_mbid,
        case methods.identity_method
            when 'spotify_id' then 'spotify:' || methods.resolved_spotify_track_id
            when 'spotify_name' then 'spotify:' || methods.resolved_spotify_track_id
            when 'mbid' then 'mbid:' || methods.name_track_mbid
            when 'name' then 'name:' || methods.name_key
        end as track_key,
        coalesce(
            'spotify:' || track_spotify_artists.spotify_artist_id,
            'spotify:' || artist_spotify_ids.spotify_artist_id,
            'mbid:' || artist_mbids.artist_mbid,
            'mbid:' || methods.artist_mbid,
            'name:' || methods.artist_norm
        ) as mention_artist_key

    from methods
    left join track_spotify_artists
        on methods.resolved_spotify_track_id = track_spotify_artists.spotify_track_id
    left join artist_spotify_ids
        on methods.artist_norm = artist_spotify_ids.artist_norm
    left join artist_mbids
        on methods.artist_norm = artist_mbids.artist_norm

),

final as (

    select
        mention_id,
        mention_source,
        mention_priority,
        spotify_track_id,
        track_mbid,
        artist_name,
        track_name,
        album_name,
        artist_norm,
        title_norm,
        name_key,
        popularity,
        play_count,
        identity_method,
        resolved_spotify_track_id,
        resolved_track_mbid,
        track_key,
        case
            when track_key is not null
                then first_value(mention_artist_key) over (
                    partition by track_key
                    order by
                        case when mention_artist_key is null then 1 else 0 end,
                        mention_priority asc,
                        play_count desc,
                        mention_id asc
                    rows between unbounded preceding and unbounded following
                )
        end as artist_key

    from resolved

)

select * from final
