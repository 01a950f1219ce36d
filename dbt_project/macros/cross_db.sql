{#
    Small cross-database helpers (PostgreSQL and Snowflake). dbt packages cannot be
    installed in this environment, so the few helpers the models need live here.
#}

{# Microseconds since the Unix epoch as a bigint: exact for PostgreSQL timestamps, so
   window frames "range between ... and 1 preceding" mean "strictly before". #}
{% macro epoch_us(ts) -%}
    {{ return(adapter.dispatch('epoch_us', 'encore')(ts)) }}
{%- endmacro %}

{# date_part returns float8 (fast; extract returns numeric): at today's epochs a double
   holds the microseconds exactly and the cast rounds to the nearest integer. #}
{% macro default__epoch_us(ts) -%}
    cast(date_part('epoch', {{ ts }}) * 1000000 as bigint)
{%- endmacro %}

{% macro snowflake__epoch_us(ts) -%}
    cast(date_part(epoch_microsecond, {{ ts }}) as bigint)
{%- endmacro %}


{# Microseconds in n days / minutes / seconds, rendered as an integer literal (window
   frame offsets must be constants). n must be a number known at compile time. #}
{% macro days_us(n) -%}
    {{ (n | int) * 86400000000 }}
{%- endmacro %}

{% macro minutes_us(n) -%}
    {{ (n | int) * 60000000 }}
{%- endmacro %}

{% macro seconds_us(n) -%}
    {{ (n | int) * 1000000 }}
{%- endmacro %}


{# The start of the UTC day `ts` falls in, in epoch microseconds (a bigint). #}
{% macro day_start_us(ts) -%}
    cast(floor({{ epoch_us(ts) }} / {{ days_us(1) }}) * {{ days_us(1) }} as bigint)
{%- endmacro %}


{# Timestamp plus n days (n may be an expression). #}
{% macro add_days(ts, n) -%}
    {{ return(adapter.dispatch('add_days', 'encore')(ts, n)) }}
{%- endmacro %}

{# Exact 86,400-second days: never calendar days, so a DST change in the session time
   zone cannot stretch or shrink a window. #}
{% macro default__add_days(ts, n) -%}
    ({{ ts }} + ({{ n }}) * interval '86400 seconds')
{%- endmacro %}

{% macro snowflake__add_days(ts, n) -%}
    dateadd(second, ({{ n }}) * 86400, {{ ts }})
{%- endmacro %}


{# UTC hour of day, 0..23, as an integer. #}
{% macro utc_hour(ts) -%}
    {{ return(adapter.dispatch('utc_hour', 'encore')(ts)) }}
{%- endmacro %}

{% macro default__utc_hour(ts) -%}
    cast(extract(hour from {{ ts }} at time zone 'UTC') as integer)
{%- endmacro %}

{% macro snowflake__utc_hour(ts) -%}
    cast(extract(hour from convert_timezone('UTC', {{ fakesnow_timestamp(ts) }})) as integer)
{%- endmacro %}


{# UTC day of week as an integer, 0 = Sunday .. 6 = Saturday. #}
{% macro utc_dow(ts) -%}
    {{ return(adapter.dispatch('utc_dow', 'encore')(ts)) }}
{%- endmacro %}

{% macro default__utc_dow(ts) -%}
    cast(extract(dow from {{ ts }} at time zone 'UTC') as integer)
{%- endmacro %}

{% macro snowflake__utc_dow(ts) -%}
    cast(mod(extract(dayofweekiso from convert_timezone('UTC', {{ fakesnow_timestamp(ts) }})), 7) as integer)
{%- endmacro %}


{# Deterministic text key: md5 over the '|'-joined text of the given expressions. #}
{% macro hash_key(expressions) -%}
    md5(
        {%- for expression in expressions %}
        coalesce(cast({{ expression }} as {{ dbt.type_string() }}), '')
        {%- if not loop.last %} || '|' ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}


{# regexp_replace of every match (PostgreSQL needs the 'g' flag, Snowflake replaces all
   by default). Keep patterns portable: POSIX ERE, bracket classes ([[:space:]],
   [[:punct:]]), no backslash escapes (string literals treat them differently). #}
{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'encore')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro snowflake__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}


{# Timestamp plus n milliseconds (n may be an expression, negative to subtract). #}
{% macro add_milliseconds(ts, n) -%}
    {{ return(adapter.dispatch('add_milliseconds', 'encore')(ts, n)) }}
{%- endmacro %}

{% macro default__add_milliseconds(ts, n) -%}
    ({{ ts }} + ({{ n }}) * interval '1 millisecond')
{%- endmacro %}

{% macro snowflake__add_milliseconds(ts, n) -%}
    dateadd(millisecond, {{ n }}, {{ ts }})
{%- endmacro %}


{# The first element of a JSON array column (jsonb / variant) as text; NULL when the
   array is empty or NULL. #}
{% macro json_array_first_text(column) -%}
    {{ return(adapter.dispatch('json_array_first_text', 'encore')(column)) }}
{%- endmacro %}

{% macro default__json_array_first_text(column) -%}
    ({{ column }} ->> 0)
{%- endmacro %}

{% macro snowflake__json_array_first_text(column) -%}
    cast({{ column }}[0] as varchar)
{%- endmacro %}


{# A JSON column (jsonb / variant) as its JSON text. #}
{% macro json_to_text(column) -%}
    {{ return(adapter.dispatch('json_to_text', 'encore')(column)) }}
{%- endmacro %}

{% macro default__json_to_text(column) -%}
    cast({{ column }} as text)
{%- endmacro %}

{% macro snowflake__json_to_text(column) -%}
    to_json({{ column }})
{%- endmacro %}


{# 00:00 UTC of a date, as a timestamp with time zone, whatever the session's time zone. #}
{% macro utc_midnight(d) -%}
    {{ return(adapter.dispatch('utc_midnight', 'encore')(d)) }}
{%- endmacro %}

{% macro default__utc_midnight(d) -%}
    cast(cast({{ d }} as text) || ' 00:00:00+00' as timestamp with time zone)
{%- endmacro %}

{% macro snowflake__utc_midnight(d) -%}
    cast(cast({{ d }} as varchar) || 'T00:00:00+00:00' as timestamp_tz)
{%- endmacro %}
