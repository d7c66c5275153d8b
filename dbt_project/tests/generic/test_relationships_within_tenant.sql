{#- Like dbt's `relationships`, but the reference must exist for the same tenant: every non-null
    (tenant_id, column) of the model must be a (tenant_id, field) of `to`. -#}
{% test relationships_within_tenant(model, column_name, to, field, tenant_column='tenant_id') %}

with child as (
    select {{ tenant_column }} as tenant_id, {{ column_name }} as reference_id
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select distinct {{ tenant_column }} as tenant_id, {{ field }} as reference_id
    from {{ to }}
)

select child.tenant_id, child.reference_id
from child
left join parent
    on child.tenant_id = parent.tenant_id
    and child.reference_id = parent.reference_id
where parent.reference_id is null

{% endtest %}
