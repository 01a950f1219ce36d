{#
    fakesnow (a local Snowflake emulator on DuckDB, used by the offline Snowflake test)
    reports itself as account 'fakesnow'. Two workarounds apply there only; a real account
    renders dbt-snowflake's own macros.
#}

{# DuckDB only creates temporary tables in its "temp" catalog: an unqualified name. #}
{% macro snowflake__make_temp_relation(base_relation, suffix='__dbt_tmp') -%}
    {%- set relation = default__make_temp_relation(base_relation, suffix) -%}
    {%- if target.account == 'fakesnow' -%}
        {%- set relation = relation.incorporate(path={'database': none, 'schema': none}) -%}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}


{# fakesnow turns dateadd(...) into an interval expression whose type convert_timezone then
   misreads: an explicit cast there. Any other target gets the expression unchanged. #}
{% macro fakesnow_timestamp(ts) -%}
    {%- if target.get('account') == 'fakesnow' -%}
        cast({{ ts }} as timestamp_tz)
    {%- else -%}
        {{ ts }}
    {%- endif -%}
{%- endmacro %}
