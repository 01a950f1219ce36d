{#-
    The audio profile a track is compared on (user_repeat_audio_distance, the content
    candidates): four audio features in [0, 1] and tempo divided by
    `audio_tempo_scale_bpm` (tempo_scaled).
-#}
{% macro audio_profile_columns() -%}
    {{ return(['danceability', 'energy', 'valence', 'acousticness', 'tempo_scaled']) }}
{%- endmacro %}
