{{
    config(
        materialized='table',
        post_hook=["{{ analyze_relation() }}"],
    )
}}

-- When candidates are generated, per listener: at their clock (cutoff_number 0: the lists
-- served) and at `list_cutoffs` earlier cut-offs, every `list_cutoff_step_days` back
-- (cutoff_number k: clock - k x step), whose next 30 days are already observed: the list
-- model learns from those and the backtest grades them. A reference point exists only
-- when the listener was active then: a play in the `candidate_recent_days` up to it.
-- "As of" includes plays at as_of itself (an export's clock is its last play). Past
-- cut-offs are kept for at most `list_cutoff_listeners` listeners (the same ones at every
-- cut-off, by a hash of their id): enough lists to learn and grade from, at a bounded cost
-- however many listeners there are.

{%- set step = var('list_cutoff_step_days') %}

with

clocks as (

    select
        user_id,
        clock,
        row_number() over (
            order by {{ hash_key(['user_id']) }}, user_id
        ) as sample_rank

    from {{ ref('int_listener_clocks') }}

),

cutoffs as (

    {%- for k in range((var('list_cutoffs') | int) + 1) %}
    select
        user_id,
        {{ k }} as cutoff_number,
        {{ add_days('clock', -1 * k * step) }} as as_of

    from clocks
    {%- if k > 0 %}
    where sample_rank <= {{ var('list_cutoff_listeners') }}
    {%- endif %}
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}

),

plays as (

    select
        user_id,
        played_at

    from {{ ref('int_plays_sessionized') }}

),

active as (

    select
        cutoffs.user_id,
        cutoffs.cutoff_number,
        cutoffs.as_of,
        count(*) as recent_plays

    from cutoffs
    inner join plays
        on
            cutoffs.user_id = plays.user_id
            and cutoffs.as_of >= plays.played_at
            and plays.played_at
            > {{ add_days('cutoffs.as_of', -1 * var('candidate_recent_days')) }}
    group by cutoffs.user_id, cutoffs.cutoff_number, cutoffs.as_of

),

final as (

    select
        user_id,
        cast(cutoff_number as integer) as cutoff_number,
        as_of,
        -- the UTC day it falls in (epoch us): cross-listener popularity is counted per day
        {{ day_start_us('as_of') }}
            as as_of_day_us,
        cast(recent_plays as bigint) as recent_plays

    from active

)

select * from final
