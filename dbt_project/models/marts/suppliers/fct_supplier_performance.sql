-- Supplier performance (001 INT-003) per tenant × supplier × month of delivery (UTC), over the
-- POs delivered that month (formulas in fct_supplier_performance.yml).
with purchase_orders as (
    select * replace (
        {{ utc_naive('first_seen_at') }} as first_seen_at,
        {{ utc_naive('updated_at') }} as updated_at
    )
    from {{ ref('fct_purchase_orders') }}
),

deliveries as (
    -- a PO is delivered when its shipment(s) report an actual DELIVERED milestone
    select
        tenant_id,
        po_id,
        max({{ utc_naive('event_at') }}) as delivered_at,
        sum(delivered_quantity) as delivered_quantity
    from {{ ref('fct_shipment_milestones') }}
    where milestone = 'DELIVERED' and classifier = 'ACT' and po_id is not null
    group by tenant_id, po_id
),

inspections as (
    -- MES inspections of the work orders made for the PO (work order customer_order_id = PO)
    select
        work_orders.tenant_id,
        work_orders.customer_order_id as po_id,
        count(*) as inspection_count,
        count(*) filter (where inspections.inspection_result = 'pass') as inspection_pass_count
    from {{ ref('stg_mes__quality_inspections') }} as inspections
    inner join {{ ref('stg_erp__work_orders') }} as work_orders
        on inspections.tenant_id = work_orders.tenant_id
        and inspections.erp_work_order_id = work_orders.erp_work_order_id
    where work_orders.customer_order_id is not null
    group by all
),

delivered_orders as (
    select
        purchase_orders.tenant_id,
        purchase_orders.supplier,
        purchase_orders.canonical_supplier_id,
        cast(date_trunc('month', deliveries.delivered_at) as date) as month_start_date,
        purchase_orders.po_id,
        cast(deliveries.delivered_at as date) <= purchase_orders.requested_delivery_date
            as is_on_time,
        deliveries.delivered_quantity >= purchase_orders.quantity as is_in_full,
        case
            when deliveries.delivered_at > purchase_orders.first_seen_at
                then epoch(deliveries.delivered_at - purchase_orders.first_seen_at) / 86400.0
        end as lead_time_days,
        deliveries.delivered_quantity * purchase_orders.unit_price as spend,
        purchase_orders.currency,
        coalesce(inspections.inspection_count, 0) as inspection_count,
        coalesce(inspections.inspection_pass_count, 0) as inspection_pass_count
    from purchase_orders
    inner join deliveries
        on purchase_orders.tenant_id = deliveries.tenant_id
        and purchase_orders.po_id = deliveries.po_id
    left join inspections
        on purchase_orders.tenant_id = inspections.tenant_id
        and purchase_orders.po_id = inspections.po_id
),

final as (
    select
        tenant_id,
        supplier,
        -- one supplier string is one source record of identity resolution: one canonical id
        -- (a second would break the grain, which the model's uniqueness test would report)
        canonical_supplier_id,
        month_start_date,
        cast(count(*) as bigint) as delivered_po_count,
        cast(count(*) filter (where is_on_time) as bigint) as on_time_po_count,
        cast(count(*) filter (where is_on_time and is_in_full) as bigint) as otif_po_count,
        cast(count(*) filter (where is_on_time) as double) / count(*) as on_time_delivery_rate,
        cast(count(*) filter (where is_on_time and is_in_full) as double) / count(*) as otif_rate,
        cast(avg(lead_time_days) as double) as avg_lead_time_days,
        cast(sum(inspection_count) as bigint) as inspection_count,
        cast(sum(inspection_pass_count) as bigint) as inspection_pass_count,
        case
            when sum(inspection_count) > 0
                then 100.0 * sum(inspection_pass_count) / sum(inspection_count)
        end as quality_score,
        cast(sum(spend) as double) as spend,
        case when count(distinct currency) = 1 then min(currency) end as spend_currency
    from delivered_orders
    group by tenant_id, supplier, canonical_supplier_id, month_start_date
)

select * from final
