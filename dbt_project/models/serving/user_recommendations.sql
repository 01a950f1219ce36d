{{
    config(
        post_hook=["{{ grant_select_if_role_exists('recs_reader') }}"],
    )
}}

-- What SQL clients read: the published recommendations with the track title, artist and
-- genre. Both tables are written by ml/ in one transaction per publish; the view reads
-- nothing dbt rebuilds, so rebuilding the marts never drops it from under clients.

with

recommendations as (

    select * from {{ source('serving', 'recommendations') }}

),

tracks as (

    select * from {{ source('serving', 'tracks') }}

),

final as (

    select
        cast(recommendations.user_id as text) as user_id,
        cast(recommendations.rank as integer) as rank,
        cast(recommendations.track_key as text) as track_key,
        cast(tracks.track_name as text) as track_name,
        cast(tracks.artist_name as text) as artist_name,
        cast(tracks.genre as text) as genre,
        cast(recommendations.score as double precision) as score,
        cast(recommendations.reason as text) as reason,
        cast(recommendations.model_version as text) as model_version,
        cast(recommendations.generated_at as timestamp with time zone) as generated_at,
        cast(recommendations.as_of as timestamp with time zone) as as_of

    from recommendations
    left join tracks
        on recommendations.track_key = tracks.track_key

)

select * from final
