-- Every listener active at their own clock (a play in the candidate_recent_days up to it,
-- int_listener_clocks) has a reference point at cutoff 0 and a full list in
-- fct_candidate_features: at least min_candidates_per_user candidates or, when fewer can
-- exist, every track they could be offered (the tracks they played in those days plus
-- every catalogue track they had never played). Nobody else has candidates. Activity is
-- recomputed here from fct_plays, not read from the candidate models.

with

clocks as (

    select
        user_id,
        clock

    from {{ ref('int_listener_clocks') }}

),

plays as (

    select
        user_id,
        track_key,
        played_at

    from {{ ref('fct_plays') }}

),

tracks as (

    select track_key from {{ ref('dim_tracks') }}

),

active_users as (

    select
        clocks.user_id,
        count(distinct plays.track_key) as recent_tracks

    from clocks
    inner join plays
        on
            clocks.user_id = plays.user_id
            and plays.played_at <= clocks.clock
            and plays.played_at
            > {{ add_days('clocks.clock', -1 * var('candidate_recent_days')) }}
    group by clocks.user_id

),

played_catalogue_tracks as (

    select
        clocks.user_id,
        count(distinct plays.track_key) as played_tracks

    from clocks
    inner join plays
        on
            clocks.user_id = plays.user_id
            and plays.played_at <= clocks.clock
    inner join tracks
        on plays.track_key = tracks.track_key
    group by clocks.user_id

),

catalogue as (

    select count(*) as n_tracks from tracks

),

expected as (

    select
        active_users.user_id,
        least(
            {{ var('min_candidates_per_user') }},
            active_users.recent_tracks
            + catalogue.n_tracks - coalesce(played_catalogue_tracks.played_tracks, 0)
        ) as min_candidates

    from active_users
    cross join catalogue
    left join played_catalogue_tracks
        on active_users.user_id = played_catalogue_tracks.user_id

),

reference_points as (

    select user_id
    from {{ ref('int_candidate_reference_points') }}
    where cutoff_number = 0

),

candidate_counts as (

    select
        user_id,
        count(*) as n_candidates

    from {{ ref('fct_candidate_features') }}
    group by user_id

),

compared as (

    select
        coalesce(expected.user_id, reference_points.user_id) as user_id,
        expected.min_candidates,
        expected.user_id is not null as is_active,
        reference_points.user_id is not null as has_reference_point

    from expected
    full outer join reference_points
        on expected.user_id = reference_points.user_id

)

select
    coalesce(compared.user_id, candidate_counts.user_id) as user_id,
    compared.min_candidates,
    coalesce(compared.is_active, false) as is_active,
    coalesce(compared.has_reference_point, false) as has_reference_point,
    coalesce(candidate_counts.n_candidates, 0) as n_candidates

from compared
full outer join candidate_counts
    on compared.user_id = candidate_counts.user_id
where
    not coalesce(compared.is_active, false)
    or not coalesce(compared.has_reference_point, false)
    or coalesce(candidate_counts.n_candidates, 0) < compared.min_candidates
