-- One row per tenant, purchase order and line item of the PO's latest revision (either route),
-- with the supplier's latest EDI acknowledgment of the line (stg_edi__po_acknowledgment_lines).
with purchase_order_lines as (
    select * from {{ ref('int_purchase_order_lines_unioned') }}
),

acknowledged_lines as (
    -- the lines of the supplier's latest EDI acknowledgment (855 / ORDRSP) of the PO
    select * from {{ ref('stg_edi__po_acknowledgment_lines') }}
),

final as (
    select
        lines.tenant_id,
        lines.po_id,
        lines.line_item_id,
        cast(lines.revision as bigint) as revision,
        cast(lines.line_number as bigint) as line_number,
        lines.sku,
        lines.color,
        lines.size,
        lines.line_quantity,
        lines.source_route,
        cast(lines.item_number as varchar) as item_number,
        cast(lines.is_deleted as boolean) as is_deleted,
        acknowledged_lines.line_ack_status,
        cast(acknowledged_lines.acknowledged_quantity as double) as acknowledged_quantity,
        acknowledged_lines.acknowledged_delivery_date
    from purchase_order_lines as lines
    left join acknowledged_lines
        on lines.tenant_id = acknowledged_lines.tenant_id
        and lines.po_id = acknowledged_lines.po_id
        and lines.line_item_id = acknowledged_lines.line_item_id
)

select * from final
