{#-
    Co-listening snapshots (int_colisten_neighbours, int_colisten_user_scores): time is cut
    into tumbling windows of `colisten_snapshot_days` exact days, aligned on the Unix
    epoch. The snapshot at S (epoch microseconds, a multiple of the window) holds the plays
    of [S - window, S): all strictly before S.
-#}

{# The snapshot a play at ts_us (epoch microseconds) belongs to: the first boundary
   strictly after it. #}
{% macro colisten_snapshot_of_play(ts_us) -%}
    cast(
        (floor(({{ ts_us }}) / {{ days_us(var('colisten_snapshot_days')) }}) + 1)
        * {{ days_us(var('colisten_snapshot_days')) }}
        as bigint
    )
{%- endmacro %}

{# The snapshot a reference point at ts_us reads: the latest boundary strictly before it
   (a reference exactly on a boundary reads the previous one). #}
{% macro colisten_snapshot_before(ts_us) -%}
    cast(
        floor((({{ ts_us }}) - 1) / {{ days_us(var('colisten_snapshot_days')) }})
        * {{ days_us(var('colisten_snapshot_days')) }}
        as bigint
    )
{%- endmacro %}
