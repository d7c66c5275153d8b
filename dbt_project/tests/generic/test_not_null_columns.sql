{#- Fails once for every listed column that holds a null: one row per such column, with how many
    rows are null. One scan of the model for all its required columns, where one `not_null` test
    per column ran the model's query once per column (a staging view's latest-record window
    included). Models built as tables declare their required columns as `not_null` constraints
    instead (README "Adding or changing a model").
    Usage (model level):
      data_tests:
        - not_null_columns:
            arguments:
              column_names: [tenant_id, po_id] -#}
{% test not_null_columns(model, column_names) %}

with null_rows as (
    select
    {%- for column in column_names %}
        count(*) filter (where {{ adapter.quote(column) }} is null) as {{ adapter.quote(column) }}
        {{- "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
),

per_column as (
    unpivot null_rows on columns(*) into name column_name value null_rows
)

select column_name, null_rows
from per_column
where null_rows > 0

{% endtest %}
