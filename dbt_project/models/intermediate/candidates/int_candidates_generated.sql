{{
    config(
        materialized='table',
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- Candidate (listener, track) pairs per reference point (int_candidate_reference_points:
-- the listener's clock, cutoff_number 0, and earlier cut-offs): the generators of
-- `candidate_generators` (int_candidates_unioned) plus the popular fill
-- (int_candidates_popular). candidate_sources lists every generator that proposed the pair
-- (comma-separated, in `candidate_generators` order, then popular); candidate_source is
-- the first of them.

{%- set generators = var('candidate_generators') %}

with

candidates as (

    select
        user_id,
        cutoff_number,
        as_of,
        track_key,
        {%- for generator in generators %}
        from_{{ generator }},
        {%- endfor %}
        0 as from_popular

    from {{ ref('int_candidates_unioned') }}

    union all

    select
        user_id,
        cutoff_number,
        as_of,
        track_key,
        {%- for generator in generators %}
        0 as from_{{ generator }},
        {%- endfor %}
        1 as from_popular

    from {{ ref('int_candidates_popular') }}

),

tracks as (

    select
        track_key,
        artist_key,
        genre

    from {{ ref('int_tracks_enriched') }}

),

final as (

    select
        candidates.user_id,
        candidates.track_key,
        candidates.cutoff_number,
        candidates.as_of,
        tracks.artist_key,
        tracks.genre,
        case
            {%- for generator in generators %}
            when candidates.from_{{ generator }} = 1 then '{{ generator }}'
            {%- endfor %}
            else 'popular'
        end as candidate_source,
        -- ',a,b' without its leading comma (substr: rtrim's second argument is not
        -- portable to every engine the project runs on)
        substr(
            {%- for generator in generators %}
            case when candidates.from_{{ generator }} = 1 then ',{{ generator }}' else '' end
            ||
            {%- endfor %}
            case when candidates.from_popular = 1 then ',popular' else '' end,
            2
        ) as candidate_sources

    from candidates
    left join tracks
        on candidates.track_key = tracks.track_key

)

select * from final
