{#
    Custom schemas are used verbatim (staging, intermediate, marts, serving) instead of
    dbt's default "<target schema>_<custom schema>". Models without a custom schema land
    in the target's schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
