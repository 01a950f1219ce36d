{{
    config(
        indexes=[{'columns': ['user_id'], 'unique': True}],
    )
}}

with

users as (

    select * from {{ ref('int_users_latest') }}

),

plays as (

    select * from {{ ref('int_plays_sessionized') }}

),

-- plays per (listener, track) first: the distinct track count is then a plain count over
-- a hash aggregate, not a count(distinct) that sorts every play
user_tracks as (

    select
        user_id,
        track_key,
        min(source) as play_source,
        min(played_at) as first_played_at,
        max(played_at) as last_played_at,
        cast(count(*) as bigint) as play_count

    from plays
    group by user_id, track_key

),

user_plays as (

    select
        user_id,
        min(play_source) as play_source,
        min(first_played_at) as first_played_at,
        max(last_played_at) as last_played_at,
        cast(sum(play_count) as bigint) as play_count,
        cast(count(*) as bigint) as distinct_track_count

    from user_tracks
    group by user_id

),

-- listeners known from a profile snapshot or only from their plays
all_user_ids as (

    select user_id from users
    union
    select user_id from user_plays

),

final as (

    select
        all_user_ids.user_id,
        users.username,
        users.country,
        users.age_band,
        users.signed_up_at,
        coalesce(users.source, user_plays.play_source) as source,
        user_plays.first_played_at,
        user_plays.last_played_at,
        coalesce(user_plays.play_count, 0) as play_count,
        coalesce(user_plays.distinct_track_count, 0) as distinct_track_count

    from all_user_ids
    left join users
        on all_user_ids.user_id = users.user_id
    left join user_plays
        on all_user_ids.user_id = user_plays.user_id

)

select * from final
