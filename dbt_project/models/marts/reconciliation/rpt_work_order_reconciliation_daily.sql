-- The work-order discrepancies of rpt_work_order_reconciliation dated for the nightly report:
-- a discrepancy belongs to the UTC day of the later of the work order's latest ERP event and
-- latest MES record (the day the two systems last changed it; 003 §3.4 reconciles the work
-- orders updated in the last 24 hours).
with discrepancies as (
    select * from {{ ref('rpt_work_order_reconciliation') }}
),

work_orders as (
    select * from {{ ref('int_work_orders_joined_to_mes') }}
),

final as (
    select
        discrepancies.tenant_id,
        discrepancies.discrepancy_id,
        cast(
            greatest(
                coalesce(work_orders.erp_last_event_at, work_orders.mes_last_updated_at),
                coalesce(work_orders.mes_last_updated_at, work_orders.erp_last_event_at)
            ) as date
        ) as reconciliation_date,
        discrepancies.erp_work_order_id,
        discrepancies.discrepancy_type,
        discrepancies.severity,
        discrepancies.proposed_action,
        discrepancies.rule,
        work_orders.is_in_erp,
        work_orders.is_in_mes,
        discrepancies.erp_status,
        discrepancies.mes_status,
        discrepancies.erp_quantity,
        discrepancies.mes_quantity
    from discrepancies
    inner join work_orders
        on discrepancies.tenant_id = work_orders.tenant_id
        and discrepancies.erp_work_order_id = work_orders.erp_work_order_id
)

select * from final
