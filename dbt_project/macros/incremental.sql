{#
    Incremental marts by whole UTC days (fct_plays by the day of the play, fct_sessions by
    the day the session started). See the "Incremental models" section of the README.

    An incremental run rebuilds a set of days: the model's SQL returns every row of those
    days plus one *marker row* per day (all columns NULL except the day), and the
    `replace_days` strategy below deletes those days from the target and inserts the real
    rows. A marker is what lets a day that ends up with no rows at all (a replaced batch,
    a snapshot of a shorter world) be emptied.
#}


{# UTC calendar date of a timestamp with time zone. #}
{% macro utc_date(ts) -%}
    {{ return(adapter.dispatch('utc_date', 'encore')(ts)) }}
{%- endmacro %}

{% macro default__utc_date(ts) -%}
    cast(({{ ts }}) at time zone 'UTC' as date)
{%- endmacro %}

{% macro snowflake__utc_date(ts) -%}
    cast(convert_timezone('UTC', {{ fakesnow_timestamp(ts) }}) as date)
{%- endmacro %}


{# A date plus n days (n an integer expression, negative to subtract), as a date. #}
{% macro date_add_days(day, n) -%}
    {{ return(adapter.dispatch('date_add_days', 'encore')(day, n)) }}
{%- endmacro %}

{% macro default__date_add_days(day, n) -%}
    cast({{ day }} + ({{ n }}) as date)
{%- endmacro %}

{% macro snowflake__date_add_days(day, n) -%}
    cast(dateadd(day, {{ n }}, {{ day }}) as date)
{%- endmacro %}


{#
    The days an incremental run rebuilds, as a select of one column `day`:
      - every day on which the source rows and the target rows differ, in either direction
        (compared on `compare_columns`, which must determine a row): new, late, changed
        and vanished rows, whatever their load time or batch. Each side is summarised per
        day as its row count and the sum of a 64-bit hash of each row's columns (one
        aggregation per side instead of two `except`s of the whole tables); a day differs
        when one side lacks it or either number differs;
      - the last `incremental_lookback_days` days up to the latest day of the source,
        always (routine late data costs no comparison to find; see the README), read from
        the same per-day summary of the source.
    `source` is a CTE name (or relation) with `day_column`; `target_relation` is {{ this }}.
#}
{% macro changed_days(source, target_relation, day_column, compare_columns) -%}
    with

    source_days as (
        {{ day_fingerprints(source, day_column, compare_columns) }}
    ),

    target_days as (
        {{ day_fingerprints(target_relation, day_column, compare_columns) }}
    )

    select coalesce(source_days.day, target_days.day) as day
    from source_days
    full outer join target_days
        on source_days.day = target_days.day
    where
        source_days.day is null
        or target_days.day is null
        or source_days.row_count <> target_days.row_count
        or source_days.fingerprint <> target_days.fingerprint
    union
    select day
    from source_days
    where day >= (
        select {{ date_add_days('max(day)', -(var('incremental_lookback_days') | int)) }}
        from source_days
    )
{%- endmacro %}


{# Per day of `relation`: its rows and the sum of their row hashes over `columns`. #}
{% macro day_fingerprints(relation, day_column, columns) -%}
    select
        {{ day_column }} as day,
        count(*) as row_count,
        sum({{ row_hash(columns) }}) as fingerprint
    from {{ relation }}
    group by {{ day_column }}
{%- endmacro %}


{# A 64-bit hash of a row's `columns` (NULLs included), the same for equal rows. #}
{% macro row_hash(columns) -%}
    {{ return(adapter.dispatch('row_hash', 'encore')(columns)) }}
{%- endmacro %}

{# Each column hashed by its type's extended hash (PostgreSQL 14+); sum() of bigint is numeric:
   no overflow. #}
{% macro default__row_hash(columns) -%}
    hash_record_extended(row({{ columns | join(', ') }}), 0)
{%- endmacro %}

{% macro snowflake__row_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}


{#
    Custom incremental strategy `replace_days` (PostgreSQL and Snowflake):
    unique_key = [day column, row key column]. Deletes every target row whose day occurs
    in the new rows, then inserts the new rows whose row key is not NULL (rows with a NULL
    row key are the markers of days to empty). One transaction on both adapters (dbt's
    PostgreSQL materialization runs in one; Snowflake gets an explicit one, as dbt-snowflake
    does for delete+insert), so readers never see a day half-replaced.
#}
{% macro get_incremental_replace_days_sql(arg_dict) -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- if unique_key is string or unique_key | length != 2 -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy 'replace_days' needs unique_key = [day column, row key column]"
        ) }}
    {%- endif -%}
    {%- set day_column, row_key = unique_key[0], unique_key[1] -%}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set new_rows = arg_dict['temp_relation'] -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set dml -%}
        delete from {{ target_relation }}
        where {{ day_column }} in (select distinct {{ day_column }} from {{ new_rows }});
        insert into {{ target_relation }} ({{ dest_cols_csv }})
        select {{ dest_cols_csv }}
        from {{ new_rows }}
        where {{ row_key }} is not null
    {%- endset -%}
    {%- if adapter.type() == 'snowflake' -%}
        {{ snowflake_dml_explicit_transaction(dml) }}
    {%- else -%}
        {{ dml }}
    {%- endif -%}
{%- endmacro %}
