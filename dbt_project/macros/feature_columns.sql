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
        'user_prior_repeat_rate', 'user_repeat_rate_smoothed', 'user_repeat_rate_90d_smoothed',
        'user_hours_since_prev_play',
        'user_plays_7d', 'user_plays_30d', 'user_new_track_share_30d',
        'track_prior_plays', 'track_prior_listeners', 'track_prior_repeat_rate',
        'track_repeat_rate_smoothed', 'track_plays_7d', 'track_plays_28d',
        'track_plays_trend',
        'artist_prior_plays', 'artist_prior_repeat_rate', 'artist_repeat_rate_smoothed',
        'user_artist_prior_plays', 'user_artist_prior_tracks',
        'user_artist_days_since_last_play', 'user_artist_plays_30d',
        'user_artist_repeat_rate_smoothed', 'user_genre_share',
        'colisten_score', 'user_repeat_audio_distance',
    ] -%}
    {%- for column in columns %}
        {{ relation }}.{{ column }},
    {%- endfor %}
{%- endmacro %}

{#- The listener's own history with a candidate track: the list model's extra inputs (zero
    or NULL at a first play, so only the candidate marts carry them). list_history_columns
    come from the event stream (int_plays_with_history); list_rank_columns place the track
    among the listener's candidates of the same reference point (int_candidate_features).
    ml/list_model.py holds the same list. -#}
{% macro list_history_columns(relation) -%}
    {%- for column in [
        'user_track_prior_plays', 'user_track_plays_7d', 'user_track_plays_30d',
        'user_track_plays_90d', 'user_track_days_since_last_play',
        'user_track_days_since_first_play',
    ] + list_decay_names() %}
        {{ relation }}.{{ column }},
    {%- endfor %}
{%- endmacro %}

{% macro list_decay_names() -%}
    {%- set names = [] -%}
    {%- for tau in var('decay_days') -%}
        {%- do names.append('user_track_plays_decayed_' ~ tau ~ 'd') -%}
    {%- endfor -%}
    {%- do names.append('user_artist_plays_decayed_' ~ var('decay_days')[-1] ~ 'd') -%}
    {{ return(names) }}
{%- endmacro %}

{% macro list_rank_columns(relation) -%}
    {%- for column in [
        'user_track_share_30d', 'user_artist_share_30d', 'user_track_rank_7d',
        'user_track_rank_30d', 'user_track_rank_90d', 'user_track_rank_prior',
        'user_track_rank_decayed',
    ] %}
        {{ relation }}.{{ column }},
    {%- endfor %}
{%- endmacro %}

{% macro list_feature_columns(relation) -%}
    {{ list_history_columns(relation) }}
    {{ list_rank_columns(relation) }}
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
