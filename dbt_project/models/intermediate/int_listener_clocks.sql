{{
    config(
        materialized='table',
        post_hook=["{{ analyze_relation() }}"],
    )
}}

-- One row per listener: their clock, the time their recommendations are "as of"
-- (DESIGN.md). An export is a snapshot, so an export listener's clock is their latest
-- observed play; a live source (the API extracts, the synthetic world) observes up to its
-- run's logical date, so a listener it loaded has a clock no earlier than that date's
-- 00:00 UTC (the extracts fetch plays before it). Histories that end in different years
-- keep their own clocks: nothing here is "the data's end".

{%- set live_sources = ['synthetic', 'lastfm', 'spotify'] %}

with

plays as (

    select
        user_id,
        played_at

    from {{ ref('int_plays_sessionized') }}

),

last_plays as (

    select
        user_id,
        min(played_at) as first_played_at,
        max(played_at) as last_played_at,
        count(*) as n_plays

    from plays
    group by user_id

),

-- the logical dates of the live batches that loaded each listener's plays
live_batches as (

    select
        user_id,
        logical_date
    from {{ ref('stg_synthetic__plays') }}

    union all

    select
        user_id,
        logical_date
    from {{ ref('stg_lastfm__scrobbles') }}
    where source = 'lastfm'

    union all

    select
        user_id,
        logical_date
    from {{ ref('stg_spotify__plays') }}
    where source = 'spotify'

),

live_clocks as (

    select
        user_id,
        {{ utc_midnight("max(logical_date)") }} as observed_until

    from live_batches
    where logical_date is not null
    group by user_id

),

final as (

    select
        last_plays.user_id,
        last_plays.first_played_at,
        last_plays.last_played_at,
        last_plays.n_plays,
        case
            when live_clocks.observed_until > last_plays.last_played_at
                then live_clocks.observed_until
            else last_plays.last_played_at
        end as clock,
        case
            when live_clocks.observed_until > last_plays.last_played_at then 'run_date'
            else 'last_play'
        end as clock_source

    from last_plays
    left join live_clocks
        on last_plays.user_id = live_clocks.user_id

)

select * from final
