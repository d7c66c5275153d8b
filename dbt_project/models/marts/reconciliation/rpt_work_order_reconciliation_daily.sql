-- The ERP <-> MES work-order discrepancies (int_work_order_discrepancies_classified, 003 §3.4)
-- dated for the nightly report: a discrepancy belongs to the UTC day of the later of the work
-- order's latest ERP event and latest MES record (the day the two systems last changed it; 003
-- §3.4 reconciles the work orders updated in the last 24 hours).
with discrepancies as (
    select * from {{ ref('int_work_order_discrepancies_classified') }}
),

final as (
    select
        tenant_id,
        discrepancy_id,
        cast(
            greatest(
                coalesce(erp_last_event_at, mes_last_updated_at),
                coalesce(mes_last_updated_at, erp_last_event_at)
            ) as date
        ) as reconciliation_date,
        erp_work_order_id,
        discrepancy_type,
        severity,
        proposed_action,
        rule,
        is_in_erp,
        is_in_mes,
        erp_status,
        mes_status,
        erp_quantity,
        mes_quantity,
        erp_description,
        mes_description
    from discrepancies
)

select * from final
where {{ in_daily_window('reconciliation_date') }}
