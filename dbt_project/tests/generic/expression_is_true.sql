{#
    Fails for every row where the boolean SQL expression is not true
    (dbt_utils.expression_is_true). NULL counts as a failure. Usable on a model or a column;
    on a column, the column name is not prepended: write the full expression.
#}
{% test expression_is_true(model, expression, column_name=None) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), false)

{% endtest %}
