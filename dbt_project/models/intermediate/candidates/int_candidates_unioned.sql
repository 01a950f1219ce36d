{{ config(materialized='table', post_hook=["{{ analyze_relation() }}"]) }}

-- The candidates of every generator in `candidate_generators` (dbt_project.yml: one model
-- `int_candidates_<generator>` each, with the same columns), one row per (listener,
-- reference point, track) with a flag per generator that proposed it.

{%- set generators = var('candidate_generators') %}

with

generated as (

    {%- for generator in generators %}
    select
        user_id,
        cutoff_number,
        as_of,
        {%- for other in generators %}
        {{ 1 if other == generator else 0 }} as from_{{ other }},
        {%- endfor %}
        track_key

    from {{ ref('int_candidates_' ~ generator) }}
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}

),

final as (

    select
        user_id,
        cutoff_number,
        as_of,
        {%- for generator in generators %}
        max(from_{{ generator }}) as from_{{ generator }},
        {%- endfor %}
        track_key

    from generated
    group by user_id, cutoff_number, as_of, track_key

)

select * from final
