{{
    config(
        post_hook=["{{ analyze_relation() }}"],
        indexes=[{'columns': ['user_id', 'track_key'], 'unique': True}],
    )
}}

-- One row per candidate (user, track) of the active users, with the same features as
-- fct_pair_features computed as of as_of (the latest play in the warehouse; "prior" =
-- strictly before as_of). The play context is the user's typical one: their most
-- frequent UTC hour, the weekday after as_of, the start of a session. candidate_source is
-- the primary generator, candidate_sources all of them (int_candidates_generated).

with

candidates as (

    select * from {{ ref('int_candidates_generated') }}

),

history as (

    select * from {{ ref('int_plays_with_history') }}
    where reference_type = 'candidate'

),

plays as (

    select
        user_id,
        played_at

    from {{ ref('int_plays_sessionized') }}

),

tracks as (

    select * from {{ ref('int_tracks_enriched') }}

),

users as (

    select * from {{ ref('int_users_latest') }}

),

user_hours as (

    select
        user_id,
        {{ utc_hour('played_at') }} as hour_of_day,
        count(*) as n_plays

    from plays
    group by user_id, {{ utc_hour('played_at') }}

),

user_typical_hour as (

    select
        user_id,
        hour_of_day

    from (
        select
            user_id,
            hour_of_day,
            row_number() over (
                partition by user_id order by n_plays desc, hour_of_day asc
            ) as hour_rank

        from user_hours
    ) as ranked
    where hour_rank = 1

),

final as (

    select
        ---------- keys
        candidates.user_id,
        candidates.track_key,
        candidates.candidate_source,
        candidates.candidate_sources,
        candidates.as_of,

        ---------- history (as of as_of)
        {{ history_feature_columns('history') }}

        ---------- typical context
        coalesce(
            user_typical_hour.hour_of_day, {{ utc_hour('candidates.as_of') }}
        ) as hour_of_day,
        {{ utc_dow(add_days('candidates.as_of', 1)) }} as day_of_week,
        cast(0 as integer) as session_position,
        cast(0 as double precision) as session_minutes_elapsed,

        ---------- track attributes, genre, listener demographics
        {{ item_feature_columns('tracks', 'users') }}

    from candidates
    inner join history
        on
            candidates.user_id = history.user_id
            and candidates.track_key = history.track_key
    left join user_typical_hour
        on candidates.user_id = user_typical_hour.user_id
    left join tracks
        on candidates.track_key = tracks.track_key
    left join users
        on candidates.user_id = users.user_id

)

select * from final
