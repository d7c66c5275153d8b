-- Every work order known to ERP or MES (full outer join on tenant and ERP work order id =
-- MES JobNumber), ERP side = latest ERP event, MES side = latest MES job record.
-- Feeds fct_work_orders (ERP side present) and the reconciliation report (both sides).
with erp_work_orders as (
    select * from {{ ref('stg_erp__work_orders') }}
),

mes_work_orders as (
    select * from {{ ref('int_mes_work_orders_status_mapped') }}
),

joined as (
    select
        coalesce(erp_work_orders.tenant_id, mes_work_orders.tenant_id) as tenant_id,
        coalesce(erp_work_orders.erp_work_order_id, mes_work_orders.erp_work_order_id) as erp_work_order_id,
        erp_work_orders.erp_work_order_id is not null as is_in_erp,
        mes_work_orders.erp_work_order_id is not null as is_in_mes,

        erp_work_orders.work_order_number,
        coalesce(erp_work_orders.product_id, mes_work_orders.product_id) as product_id,
        erp_work_orders.product_name,
        erp_work_orders.product_variant,
        erp_work_orders.unit_of_measure,
        erp_work_orders.priority,
        erp_work_orders.due_at,
        erp_work_orders.customer_order_id,
        erp_work_orders.production_line_preference,
        erp_work_orders.first_event_at as erp_created_at,
        erp_work_orders.last_event_at as erp_last_event_at,
        erp_work_orders.last_event_type as erp_last_event_type,
        erp_work_orders.work_order_status as erp_status,
        erp_work_orders.quantity_ordered as erp_quantity,
        -- the ERP product name is the work order's description (003 §3.2.1); MES holds its own
        -- copy (PartDescription). Both whitespace-normalised in staging.
        erp_work_orders.product_name as erp_description,

        mes_work_orders.mes_status as mes_status_raw,
        mes_work_orders.work_order_status as mes_status,
        mes_work_orders.quantity_ordered as mes_quantity,
        mes_work_orders.part_description as mes_description,
        mes_work_orders.quantity_produced as mes_quantity_produced,
        mes_work_orders.quantity_scrapped as mes_quantity_scrapped,
        mes_work_orders.machine_id as mes_machine_id,
        mes_work_orders.started_at as mes_started_at,
        mes_work_orders.ended_at as mes_ended_at,
        mes_work_orders.last_updated_at as mes_last_updated_at
    from erp_work_orders
    full outer join mes_work_orders
        on erp_work_orders.tenant_id = mes_work_orders.tenant_id
        and erp_work_orders.erp_work_order_id = mes_work_orders.erp_work_order_id
)

select * from joined
