{{
    config(
        post_hook=["{{ analyze_relation() }}"],
        indexes=[{'columns': ['user_id', 'track_key'], 'unique': True}],
    )
}}

-- One row per (user, track): the first observed play and the repeat label (the logic
-- lives in int_first_plays, which the feature history also reads).

with

first_plays as (

    select * from {{ ref('int_first_plays') }}

),

final as (

    select
        user_id,
        track_key,
        artist_key,
        first_play_id,
        first_session_id,
        first_played_at,
        next_played_at,
        observed_until,
        label_window_ends_at,
        is_censored,
        cast(repeat_30d as integer) as repeat_30d

    from first_plays

)

select * from final
