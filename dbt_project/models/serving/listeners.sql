{{
    config(
        materialized='table',
        indexes=[{'columns': ['user_id'], 'unique': True}],
        post_hook=["{{ grant_select_if_role_exists('recs_reader') }}"],
    )
}}

-- Every listener as the recommendations page shows them: display name, clock (the time
-- their list is as of) and their plays of the 30 days up to it.

with

clocks as (

    select * from {{ ref('int_listener_clocks') }}

),

users as (

    select * from {{ ref('dim_users') }}

),

plays as (

    select * from {{ ref('listener_daily_plays') }}

),

recent_plays as (

    select
        user_id,
        sum(plays) as plays_30d

    from plays
    group by user_id

),

final as (

    select
        cast(clocks.user_id as text) as user_id,
        cast(users.username as text) as username,
        cast(clocks.clock as timestamp with time zone) as clock,
        cast(clocks.last_played_at as timestamp with time zone) as last_played_at,
        cast(coalesce(recent_plays.plays_30d, 0) as bigint) as plays_30d

    from clocks
    left join users
        on clocks.user_id = users.user_id
    left join recent_plays
        on clocks.user_id = recent_plays.user_id

)

select * from final
