-- One row per tenant and ERP work order (latest ERP event), with its bill of materials and its
-- MES progress from production counts. Canonical status: ERP's when ERP has completed or
-- cancelled the order, else the MES job's (mapped) status, else 'released'.
with work_orders as (
    select * from {{ ref('int_work_orders_joined_to_mes') }}
    where is_in_erp
),

bom as (
    select * from {{ ref('int_bom_lines_aggregated_to_work_orders') }}
),

production as (
    select * from {{ ref('int_production_counts_aggregated_to_work_orders') }}
),

product_clusters as (
    -- golden records (issue #16 §2): the ERP product id as identity resolution mapped it
    select * from {{ ref('stg_master_data__product_clusters') }}
    where source_kind = 'erp_product'
),

final as (
    select
        work_orders.tenant_id,
        work_orders.erp_work_order_id,
        work_orders.work_order_number,
        work_orders.product_id,
        product_clusters.canonical_product_id,
        work_orders.product_name,
        work_orders.product_variant,
        work_orders.erp_quantity as quantity_ordered,
        work_orders.unit_of_measure,
        work_orders.priority,
        work_orders.due_at,
        work_orders.customer_order_id,
        work_orders.production_line_preference,
        case
            when work_orders.erp_status in ('completed', 'cancelled') then work_orders.erp_status
            else coalesce(work_orders.mes_status, 'released')
        end as work_order_status,
        work_orders.erp_status,
        work_orders.mes_status,
        work_orders.is_in_mes,
        work_orders.mes_machine_id as machine_id,
        cast(coalesce(bom.bom_line_count, 0) as bigint) as bom_line_count,
        cast(coalesce(bom.bom_material_count, 0) as bigint) as bom_material_count,
        cast(coalesce(bom.bom_quantity_required, 0) as double) as bom_quantity_required,
        cast(coalesce(production.units_produced, 0) as bigint) as units_produced,
        cast(coalesce(production.good_units, 0) as bigint) as good_units,
        cast(coalesce(production.scrapped_units, 0) as bigint) as scrapped_units,
        case
            when work_orders.erp_quantity > 0
                then coalesce(production.units_produced, 0) * 100.0 / work_orders.erp_quantity
        end as progress_pct,
        work_orders.erp_created_at as created_at,
        work_orders.erp_last_event_at as erp_updated_at,
        work_orders.mes_started_at as started_at,
        work_orders.mes_ended_at as ended_at,
        production.first_counted_at as first_production_at,
        production.last_counted_at as last_production_at
    from work_orders
    left join product_clusters
        on work_orders.tenant_id = product_clusters.tenant_id
        and work_orders.product_id = product_clusters.source_id
    left join bom
        on work_orders.tenant_id = bom.tenant_id
        and work_orders.erp_work_order_id = bom.erp_work_order_id
    left join production
        on work_orders.tenant_id = production.tenant_id
        and work_orders.erp_work_order_id = production.erp_work_order_id
)

select * replace (
    {{ utc_timestamptz('due_at') }} as due_at,
    {{ utc_timestamptz('created_at') }} as created_at,
    {{ utc_timestamptz('erp_updated_at') }} as erp_updated_at,
    {{ utc_timestamptz('started_at') }} as started_at,
    {{ utc_timestamptz('ended_at') }} as ended_at,
    {{ utc_timestamptz('first_production_at') }} as first_production_at,
    {{ utc_timestamptz('last_production_at') }} as last_production_at
)
from final
