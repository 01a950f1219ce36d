{{ config(materialized='table', post_hook=["{{ analyze_relation() }}"]) }}

-- Every listener with an integer surrogate key (the event stream sorts on it) and their
-- clock in epoch microseconds, which anchors their decayed play sums.

with

final as (

    select
        user_id,
        {{ epoch_us('clock') }} as clock_us,
        row_number() over (order by user_id) as user_num

    from {{ ref('int_listener_clocks') }}

)

select * from final
