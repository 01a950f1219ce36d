{#-
    The model's feature columns, listed once for both feature marts (fct_pair_features for
    training, fct_candidate_features for scoring): the same names in the same order, so
    training and serving can't drift apart. Only the play context (hour, weekday, session
    position) differs between the two and stays in the models. ml/features.py and
    docs/data_contracts.md hold the same list.
-#}

{% macro history_feature_columns(relation) -%}
    {%- set columns = [
        'user_prior_plays', 'user_prior_tracks', 'user_prior_labelled_pairs',
        'user_prior_repeat_rate', 'user_hours_since_prev_play',
        'track_prior_plays', 'track_prior_listeners', 'track_prior_repeat_rate',
        'track_plays_7d', 'track_plays_28d', 'track_plays_trend',
        'artist_prior_plays', 'artist_prior_repeat_rate',
        'user_artist_prior_plays', 'user_artist_prior_tracks',
        'user_artist_days_since_last_play', 'user_genre_share',
        'colisten_score', 'user_repeat_audio_distance',
    ] -%}
    {%- for column in columns %}
        {{ relation }}.{{ column }},
    {%- endfor %}
{%- endmacro %}

{% macro item_feature_columns(tracks, users) -%}
        {{ tracks }}.duration_ms,
        {{ tracks }}.danceability,
        {{ tracks }}.energy,
        {{ tracks }}.valence,
        {{ tracks }}.acousticness,
        {{ tracks }}.tempo,
        {{ tracks }}.genre,
        {{ users }}.country,
        {{ users }}.age_band
{%- endmacro %}
