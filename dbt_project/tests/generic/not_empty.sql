{#
    Fails when the model has no rows (an empty mart is a broken pipeline, not a result).
#}
{% test not_empty(model) %}

select 1 as is_empty
from (select count(*) as n_rows from {{ model }}) as counted
where n_rows = 0

{% endtest %}
