-- Every play source in one shape: user_id, track_key, artist_key, played_at, ms_played,
-- source. A new source (Last.fm scrobbles, Spotify streaming history) adds one CTE that
-- yields these columns and its name to `play_sources`.

{%- set play_sources = ['synthetic_plays'] %}

with

tracks as (

    select
        track_key,
        artist_key

    from {{ ref('int_tracks_latest') }}

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
