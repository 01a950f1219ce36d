{{
    config(
        post_hook=["{{ analyze_relation() }}"],
        indexes=[{'columns': ['user_id', 'track_key'], 'unique': True}],
    )
}}

-- One row per first play (user, track): the label and the features, all computed from
-- plays strictly before first_played_at (see int_plays_with_history).

with

first_plays as (

    select * from {{ ref('int_first_plays') }}

),

history as (

    select * from {{ ref('int_plays_with_history') }}
    where reference_type = 'play'

),

plays as (

    select
        play_id,
        session_started_at,
        session_play_number,
        -- plays of the same artist earlier in the session
        count(*) over (
            partition by session_id, artist_key
            order by played_at, play_id
            rows between unbounded preceding and 1 preceding
        ) as session_artist_plays

    from {{ ref('int_plays_sessionized') }}

),

tracks as (

    select * from {{ ref('int_tracks_enriched') }}

),

users as (

    select * from {{ ref('int_users_latest') }}

),

final as (

    select
        ---------- keys and label
        first_plays.user_id,
        first_plays.track_key,
        first_plays.first_played_at,
        first_plays.is_censored,
        cast(first_plays.repeat_30d as integer) as repeat_30d,

        ---------- history (point-in-time)
        {{ history_feature_columns('history') }}

        ---------- context of the first play
        {{ utc_hour('first_plays.first_played_at') }} as hour_of_day,
        {{ utc_dow('first_plays.first_played_at') }} as day_of_week,
        cast(plays.session_play_number - 1 as integer) as session_position,
        cast(
            (
                {{ epoch_us('first_plays.first_played_at') }}
                - {{ epoch_us('plays.session_started_at') }}
            ) / 60000000.0
            as double precision
        ) as session_minutes_elapsed,
        cast(coalesce(plays.session_artist_plays, 0) as integer) as session_artist_plays,

        ---------- track attributes, genre, listener demographics
        {{ item_feature_columns('tracks', 'users') }}

    from first_plays
    inner join history
        on first_plays.first_play_id = history.reference_id
    inner join plays
        on first_plays.first_play_id = plays.play_id
    left join tracks
        on first_plays.track_key = tracks.track_key
    left join users
        on first_plays.user_id = users.user_id

)

select * from final
