{{
    config(
        materialized='table',
        indexes=[{'columns': ['user_id', 'play_date'], 'unique': True}],
        post_hook=["{{ grant_select_if_role_exists('recs_reader') }}"],
    )
}}

-- Each listener's plays per UTC day over the 30 days up to their clock (days without a
-- play have no row): the chart on the recommendations page.

with

clocks as (

    select * from {{ ref('int_listener_clocks') }}

),

plays as (

    select * from {{ ref('fct_plays') }}

),

final as (

    select
        cast(plays.user_id as text) as user_id,
        cast({{ utc_date('plays.played_at') }} as date) as play_date,
        cast(count(*) as bigint) as plays

    from plays
    inner join clocks
        on plays.user_id = clocks.user_id
    where
        plays.played_at <= clocks.clock
        and plays.played_at > {{ add_days('clocks.clock', -30) }}
    group by plays.user_id, {{ utc_date('plays.played_at') }}

)

select * from final
