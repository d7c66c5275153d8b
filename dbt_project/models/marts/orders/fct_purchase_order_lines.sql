-- One row per tenant, purchase order and line item of the PO's latest revision.
with purchase_order_lines as (
    select * from {{ ref('stg_erp__purchase_order_lines') }}
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
        line_quantity
    from purchase_order_lines
)

select * from final
