{{
    config(
        post_hook=["{{ analyze_relation() }}"],
        indexes=[{'columns': ['user_id', 'cutoff_number', 'track_key'], 'unique': True}],
    )
}}

-- The candidates of past cut-offs (each listener's clock minus 30, 60, ... days:
-- int_candidate_reference_points) with what happened next: the rows the list model
-- learns from and the backtest grades. Features are as of the cut-off; the outcome is the
-- listener's plays of the track in the 30 days after it.
--   replayed_30d  1 when the listener plays the track in (as_of, as_of + 30 days] and it is
--                 a repeat: played by as_of too, or played at least twice in the window.

with

candidates as (

    select * from {{ ref('int_candidate_features') }}
    where cutoff_number > 0

),

final as (

    select
        *,
        cast(
            case
                when
                    user_track_plays_next_30d > 0
                    and (user_track_prior_plays > 0 or user_track_plays_next_30d >= 2)
                    then 1
                else 0
            end
            as integer
        ) as replayed_30d

    from candidates

)

-- every column of int_candidate_features, plus the label
select * from final  -- noqa: AM04
