{#
    Fails for every combination of the given columns that occurs more than once
    (dbt_utils.unique_combination_of_columns, written here: no dbt packages offline).
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as n_records
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
