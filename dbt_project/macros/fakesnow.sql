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


{# fakesnow describes no columns for the unqualified temporary table of an incremental run,
   so dbt's on_schema_change check would see every target column as removed: there, the
   check is skipped and the target's columns are used (the PostgreSQL runs and a real
   account keep dbt's check). #}
{% macro snowflake__process_schema_changes(on_schema_change, source_relation, target_relation) -%}
    {%- if target.get('account') == 'fakesnow' -%}
        {{ return(adapter.get_columns_in_relation(target_relation)) }}
    {%- else -%}
        {{ return(default__process_schema_changes(on_schema_change, source_relation, target_relation)) }}
    {%- endif -%}
{%- endmacro %}
