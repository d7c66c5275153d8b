-- One row per tenant, purchase order and line item of the PO's latest revision (either route).
with purchase_order_lines as (
    select * from {{ ref('int_purchase_order_lines_unioned') }}
),

final as (
    select
        tenant_id,
        po_id,
        line_item_id,
        cast(revision as bigint) as revision,
        cast(line_number as bigint) as line_number,
        sku,
        color,
        size,
        line_quantity,
        source_route,
        cast(item_number as varchar) as item_number,
        cast(is_deleted as boolean) as is_deleted
    from purchase_order_lines
)

select * from final
