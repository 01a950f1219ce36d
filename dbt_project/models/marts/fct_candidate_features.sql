{{
    config(
        post_hook=["{{ analyze_relation() }}"],
        indexes=[{'columns': ['user_id', 'track_key'], 'unique': True}],
    )
}}

-- The candidates served: each active listener's candidates at their own clock (cutoff 0 of
-- int_candidate_features), with the model's features and the list model's inputs.

with

candidates as (

    select * from {{ ref('int_candidate_features') }}
    where cutoff_number = 0

),

final as (

    select
        candidates.user_id,
        candidates.track_key,
        candidates.candidate_source,
        candidates.candidate_sources,
        candidates.as_of,
        {{ history_feature_columns('candidates') }}
        {{ list_feature_columns('candidates') }}
        candidates.hour_of_day,
        candidates.day_of_week,
        candidates.session_position,
        candidates.session_minutes_elapsed,
        candidates.session_artist_plays,
        candidates.duration_ms,
        candidates.danceability,
        candidates.energy,
        candidates.valence,
        candidates.acousticness,
        candidates.tempo,
        candidates.genre,
        candidates.country,
        candidates.age_band

    from candidates

)

select * from final
