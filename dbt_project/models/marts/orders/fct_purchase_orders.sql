-- One row per tenant and purchase order, as of its latest revision (000 §2.1), whichever route
-- (drop files or SAP OData) brought it: int_purchase_orders_unioned; with the supplier's latest
-- EDI acknowledgment (855 / ORDRSP, stg_edi__po_acknowledgments).
with purchase_orders as (
    select * from {{ ref('int_purchase_orders_unioned') }}
),

purchase_order_lines as (
    select * from {{ ref('int_purchase_order_lines_unioned') }}
),

acknowledgments as (
    -- the supplier's latest EDI acknowledgment (855 / ORDRSP) of the PO, whichever route the PO
    -- came by
    select * from {{ ref('stg_edi__po_acknowledgments') }}
),

supplier_clusters as (
    -- golden records (issue #16 §2): the PO's supplier string (ERP routes) or EDI partner id
    -- (route edi) as identity resolution mapped it
    select * from {{ ref('stg_master_data__supplier_clusters') }}
    where source_kind in ('erp_po_supplier', 'edi_partner')
),

product_clusters as (
    -- the PO's product string (ERP routes) or its first line's buyer item number (route edi)
    select * from {{ ref('stg_master_data__product_clusters') }}
    where source_kind in ('erp_po_product', 'edi_item')
),

lines_per_order as (
    select
        tenant_id,
        po_id,
        count(*) as line_count,
        -- lines deleted in SAP (OData route, deletion code L) are not ordered any more
        sum(line_quantity) filter (where not is_deleted) as line_quantity_total
    from purchase_order_lines
    group by tenant_id, po_id
),

final as (
    select
        purchase_orders.tenant_id,
        purchase_orders.po_id,
        cast(purchase_orders.revision as bigint) as revision,
        cast(purchase_orders.revision_count as bigint) as revision_count,
        purchase_orders.po_status,
        purchase_orders.customer,
        purchase_orders.supplier,
        supplier_clusters.canonical_supplier_id,
        purchase_orders.factory,
        purchase_orders.product,
        product_clusters.canonical_product_id,
        purchase_orders.quantity,
        purchase_orders.unit,
        purchase_orders.unit_price,
        purchase_orders.quantity * purchase_orders.unit_price as order_value,
        purchase_orders.currency,
        purchase_orders.ship_window_start_date,
        purchase_orders.ship_window_end_date,
        purchase_orders.requested_delivery_date,
        purchase_orders.route_origin,
        purchase_orders.route_ports,
        purchase_orders.route_destination,
        cast(coalesce(lines_per_order.line_count, 0) as bigint) as line_count,
        cast(coalesce(lines_per_order.line_quantity_total, 0) as double) as line_quantity_total,
        purchase_orders.first_seen_at,
        purchase_orders.updated_at,
        purchase_orders.source_route,
        acknowledgments.ack_status,
        acknowledgments.ack_code,
        acknowledgments.acknowledged_at,
        acknowledgments.seller_order_number as supplier_order_number,
        acknowledgments.partner_id as ack_partner_id,
        cast(coalesce(acknowledgments.acknowledgment_count, 0) as bigint) as acknowledgment_count
    from purchase_orders
    left join lines_per_order
        on purchase_orders.tenant_id = lines_per_order.tenant_id
        and purchase_orders.po_id = lines_per_order.po_id
    left join acknowledgments
        on purchase_orders.tenant_id = acknowledgments.tenant_id
        and purchase_orders.po_id = acknowledgments.po_id
    left join supplier_clusters
        on purchase_orders.tenant_id = supplier_clusters.tenant_id
        and purchase_orders.supplier = supplier_clusters.source_id
        and supplier_clusters.source_kind
        = case when purchase_orders.source_route = 'edi' then 'edi_partner' else 'erp_po_supplier' end
    left join product_clusters
        on purchase_orders.tenant_id = product_clusters.tenant_id
        and purchase_orders.product = product_clusters.source_id
        and product_clusters.source_kind
        = case when purchase_orders.source_route = 'edi' then 'edi_item' else 'erp_po_product' end
)

select * replace (
    {{ utc_timestamptz('first_seen_at') }} as first_seen_at,
    {{ utc_timestamptz('updated_at') }} as updated_at,
    {{ utc_timestamptz('acknowledged_at') }} as acknowledged_at
)
from final
