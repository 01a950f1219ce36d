{{
    config(
        materialized='table',
        post_hook=["{{ analyze_relation() }}"],
    )
}}

-- One row per candidate (listener, track, reference point: int_candidates_generated), with
-- the same features as fct_pair_features computed as of the reference point's as_of (plays
-- at or before it), the list model's inputs (the listener's own history with the track),
-- and what happened next (plays in the 30 days after as_of: known for past cut-offs only).
-- The play context is the listener's typical one: their most frequent UTC hour of the
-- `candidate_recent_days` up to as_of, the weekday after as_of, the start of a session.
-- fct_candidate_features (cutoff 0: served) and fct_candidate_outcomes (past cut-offs: the
-- list model's rows) are its two halves.

with

candidates as (

    select * from {{ ref('int_candidates_generated') }}

),

history as (

    select * from {{ ref('int_plays_with_history') }}
    where reference_type = 'candidate'

),

reference_points as (

    select
        user_id,
        cutoff_number,
        as_of

    from {{ ref('int_candidate_reference_points') }}

),

plays as (

    select
        user_id,
        played_at

    from {{ ref('int_plays_sessionized') }}

),

tracks as (

    select * from {{ ref('int_tracks_enriched') }}

),

users as (

    select * from {{ ref('int_users_latest') }}

),

user_hours as (

    select
        reference_points.user_id,
        reference_points.cutoff_number,
        {{ utc_hour('plays.played_at') }} as hour_of_day,
        count(*) as n_plays

    from reference_points
    inner join plays
        on
            reference_points.user_id = plays.user_id
            and reference_points.as_of >= plays.played_at
            and plays.played_at
            > {{ add_days('reference_points.as_of', -1 * var('candidate_recent_days')) }}
    group by
        reference_points.user_id, reference_points.cutoff_number,
        {{ utc_hour('plays.played_at') }}

),

user_typical_hour as (

    select
        user_id,
        cutoff_number,
        hour_of_day

    from (
        select
            user_id,
            cutoff_number,
            hour_of_day,
            row_number() over (
                partition by user_id, cutoff_number order by n_plays desc, hour_of_day asc
            ) as hour_rank

        from user_hours
    ) as ranked
    where hour_rank = 1

),

final as (

    select
        ---------- keys
        candidates.user_id,
        candidates.track_key,
        candidates.cutoff_number,
        candidates.as_of,
        candidates.candidate_source,
        candidates.candidate_sources,

        ---------- history (as of as_of)
        {{ history_feature_columns('history') }}

        ---------- the listener's own history with the track (the list model's inputs)
        {{ list_history_columns('history') }}
        -- ... and its place among the listener's candidates of the same reference point
        cast(
            cast(history.user_track_plays_30d as double precision)
            / greatest(history.user_plays_30d, 1)
            as double precision
        ) as user_track_share_30d,
        cast(
            cast(coalesce(history.user_artist_plays_30d, 0) as double precision)
            / greatest(history.user_plays_30d, 1)
            as double precision
        ) as user_artist_share_30d,
        {%- for column, name in [
            ('user_track_plays_7d', 'user_track_rank_7d'),
            ('user_track_plays_30d', 'user_track_rank_30d'),
            ('user_track_plays_90d', 'user_track_rank_90d'),
            ('user_track_prior_plays', 'user_track_rank_prior'),
            ('user_track_plays_decayed_' ~ var('decay_days')[1] ~ 'd', 'user_track_rank_decayed'),
        ] %}
        cast(rank() over (
            partition by candidates.user_id, candidates.cutoff_number
            order by history.{{ column }} desc
        ) as integer) as {{ name }},
        {%- endfor %}

        ---------- typical context
        coalesce(
            user_typical_hour.hour_of_day, {{ utc_hour('candidates.as_of') }}
        ) as hour_of_day,
        {{ utc_dow(add_days('candidates.as_of', 1)) }} as day_of_week,
        cast(0 as integer) as session_position,
        cast(0 as double precision) as session_minutes_elapsed,
        cast(0 as integer) as session_artist_plays,

        ---------- track attributes, genre, listener demographics
        {{ item_feature_columns('tracks', 'users') }},

        ---------- what happened next (past cut-offs; the future at cutoff 0)
        history.user_track_plays_next_30d

    from candidates
    inner join history
        on
            candidates.user_id = history.user_id
            and candidates.track_key = history.track_key
            and candidates.cutoff_number = history.cutoff_number
    left join user_typical_hour
        on
            candidates.user_id = user_typical_hour.user_id
            and candidates.cutoff_number = user_typical_hour.cutoff_number
    left join tracks
        on candidates.track_key = tracks.track_key
    left join users
        on candidates.user_id = users.user_id

)

select * from final
