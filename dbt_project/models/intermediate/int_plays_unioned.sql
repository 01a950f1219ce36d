-- Every play source in one shape: user_id, track_key, artist_key, played_at, ms_played,
-- source. A new source adds one CTE that yields these columns and its name to
-- `play_sources`.
--   synthetic_plays  the synthetic world's plays (canonical keys from staging);
--   lastfm_plays     Last.fm scrobbles, API (`lastfm`) and exports (`lastfm_export`);
--   spotify_plays    Spotify plays, exports and recently-played; rows with less than
--                    `min_ms_played` (30 s) of playback are not plays (DESIGN.md), rows
--                    without ms_played (recently-played) are, unless an export row
--                    of the same listen (same user and track, ending within
--                    `dedup_window_seconds`) says otherwise.
-- Real plays get their track_key / artist_key from int_track_identities through their
-- mention (macro track_mention_id); a play naming neither an id nor both an artist and a
-- title resolves to no track and is left out. user_id is the source's user name.

{%- set play_sources = ['synthetic_plays', 'lastfm_plays', 'spotify_plays'] %}

with

tracks as (

    select
        track_key,
        artist_key

    from {{ ref('int_tracks_latest') }}

),

identities as (

    select
        mention_id,
        track_key,
        artist_key

    from {{ ref('int_track_identities') }}
    where track_key is not null

),

synthetic_plays as (

    select
        plays.user_id,
        plays.track_key,
        -- synthetic plays carry no artist: take it from the track catalogue
        tracks.artist_key,
        plays.played_at,
        plays.ms_played,
        plays.source,
        plays.batch_id,
        plays.loaded_at

    from {{ ref('stg_synthetic__plays') }} as plays
    left join tracks
        on plays.track_key = tracks.track_key

),

lastfm_plays as (

    select
        scrobbles.user_id,
        identities.track_key,
        identities.artist_key,
        scrobbles.played_at,
        -- a scrobble does not say how long the track played
        cast(null as integer) as ms_played,
        scrobbles.source,
        scrobbles.batch_id,
        scrobbles.loaded_at

    from {{ ref('stg_lastfm__scrobbles') }} as scrobbles
    inner join identities
        on
            {{ track_mention_id(
                "'lastfm_scrobbles'", 'null', 'scrobbles.track_mbid',
                'scrobbles.artist_name', 'scrobbles.track_name'
            ) }} = identities.mention_id

),

spotify_resolved as (

    select
        plays.user_id,
        identities.track_key,
        identities.artist_key,
        plays.played_at,
        plays.ended_at,
        plays.ms_played,
        plays.source,
        plays.batch_id,
        plays.loaded_at

    from {{ ref('stg_spotify__plays') }} as plays
    inner join identities
        on
            {{ track_mention_id(
                "'spotify_plays'", 'plays.track_id', 'null',
                'plays.artist_name', 'plays.track_name'
            ) }} = identities.mention_id

),

-- export rows know their playback time: kept when long enough
spotify_plays as (

    select
        plays.user_id,
        plays.track_key,
        plays.artist_key,
        plays.played_at,
        plays.ms_played,
        plays.source,
        plays.batch_id,
        plays.loaded_at

    from spotify_resolved as plays
    where plays.ms_played >= {{ var('min_ms_played') }}

    union all

    -- a recently-played row (no ms_played) that ends within dedup_window_seconds of an
    -- export row of the same user and track is that listen again: the export row, which
    -- knows its playback time, decides (a branch of its own, so only these rows probe)
    select
        plays.user_id,
        plays.track_key,
        plays.artist_key,
        plays.played_at,
        plays.ms_played,
        plays.source,
        plays.batch_id,
        plays.loaded_at

    from spotify_resolved as plays
    left join spotify_resolved as timed
        on
            timed.ms_played is not null
            and plays.user_id = timed.user_id
            and plays.track_key = timed.track_key
            and abs({{ epoch_us('plays.ended_at') }} - {{ epoch_us('timed.ended_at') }})
            <= {{ seconds_us(var('dedup_window_seconds')) }}
    where
        plays.ms_played is null
        and timed.user_id is null

),

unioned as (

    {% for play_source in play_sources %}
    select
        user_id,
        track_key,
        artist_key,
        played_at,
        ms_played,
        source,
        batch_id,
        loaded_at

    from {{ play_source }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
