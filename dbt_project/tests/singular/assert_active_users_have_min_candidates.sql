-- Every active user (a play in the candidate_recent_days up to as_of) has at least
-- min_candidates_per_user candidates.

with

plays as (

    select * from {{ ref('fct_plays') }}

),

as_of as (

    select max(played_at) as as_of from plays

),

active_users as (

    select distinct plays.user_id
    from plays
    cross join as_of
    where
        plays.played_at
        >= {{ add_days('as_of.as_of', -1 * var('candidate_recent_days')) }}

),

candidate_counts as (

    select
        user_id,
        count(*) as n_candidates

    from {{ ref('fct_candidate_features') }}
    group by user_id

)

select
    active_users.user_id,
    coalesce(candidate_counts.n_candidates, 0) as n_candidates

from active_users
left join candidate_counts
    on active_users.user_id = candidate_counts.user_id
where coalesce(candidate_counts.n_candidates, 0) < {{ var('min_candidates_per_user') }}
