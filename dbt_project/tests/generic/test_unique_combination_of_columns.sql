{#- Fails for every combination of the given columns that occurs more than once (a table's grain).
    Usage (model level):
      data_tests:
        - unique_combination_of_columns:
            arguments:
              combination_of_columns: [tenant_id, po_id] -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(',\n    ') }},
    count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
