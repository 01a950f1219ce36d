{#-
    The model's feature columns, listed once for both feature marts (fct_pair_features for
    training, fct_candidate_features for scoring): the same names in the same order, so
    training and serving can't drift apart. Only the play context (hour, weekday, session
    position) differs between the two and stays in the models. The lists are dbt vars
    (dbt_project.yml), which ml/ reads too; docs/data_contracts.md describes them.
-#}

{% macro history_feature_columns(relation) -%}
    {%- for column in var('history_features') %}
        {{ relation }}.{{ column }},
    {%- endfor %}
{%- endmacro %}

{#- The listener's own history with a candidate track: the list model's extra inputs (zero
    or NULL at a first play, so only the candidate marts carry them). list_history_columns
    come from the event stream (int_plays_with_history); list_rank_columns place the track
    among the listener's candidates of the same reference point (int_candidate_features).
    The lists are dbt vars (dbt_project.yml), which ml/list_model.py reads too. -#}
{% macro list_history_columns(relation) -%}
    {%- for column in var('list_history_features') + list_decay_names() %}
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
    {%- for column in var('list_rank_features') %}
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
