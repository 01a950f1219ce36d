{#
    PostgreSQL-only hooks; they render to nothing on other targets.
#}

{# Pre-hook for heavy window models: more sort memory for this transaction only. #}
{% macro set_work_mem(size='256MB') -%}
    {%- if target.type == 'postgres' -%}
        set local work_mem = '{{ size }}'
    {%- endif -%}
{%- endmacro %}


{# Pre-hook for models whose joins the planner misjudges by orders of magnitude (row
   counts estimated through chains of window functions): without merge joins it hashes the
   small side instead of sorting millions of rows on disk, for this transaction only. #}
{% macro prefer_hash_joins() -%}
    {%- if target.type == 'postgres' -%}
        set local enable_mergejoin = off
    {%- endif -%}
{%- endmacro %}


{# Post-hook: refresh planner statistics so downstream models in the same run get good
   plans (autovacuum would only get to the new table later). #}
{% macro analyze_relation() -%}
    {%- if target.type == 'postgres' -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}


{# Post-hook for serving relations: let the read-only role read them, if the warehouse
   bootstrap created it (a rebuilt view loses its grants). #}
{% macro grant_select_if_role_exists(role_name='recs_reader') -%}
    {%- if target.type == 'postgres' -%}
        do $$
        begin
            if exists (select 1 from pg_roles where rolname = '{{ role_name }}') then
                execute 'grant usage on schema {{ this.schema }} to {{ role_name }}';
                execute 'grant select on {{ this }} to {{ role_name }}';
            end if;
        end
        $$
    {%- endif -%}
{%- endmacro %}


{# Post-hook for intermediate tables: rebuilt by every run and only read by the next
   models, so autovacuum would only compete with the build for the CPU (analyze_relation
   keeps the statistics fresh). #}
{% macro disable_autovacuum() -%}
    {%- if target.type == 'postgres' -%}
        alter table {{ this }} set (autovacuum_enabled = false)
    {%- endif -%}
{%- endmacro %}
