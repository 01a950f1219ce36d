{{
    config(
        post_hook=["{{ analyze_relation() }}"],
        indexes=[{'columns': ['user_id', 'played_at']}],
    )
}}

with

plays as (

    select * from {{ ref('int_plays_sessionized') }}

),

final as (

    select
        play_id,
        user_id,
        track_key,
        artist_key,
        played_at,
        ms_played,
        source,
        session_id,
        session_play_number

    from plays

)

select * from final
