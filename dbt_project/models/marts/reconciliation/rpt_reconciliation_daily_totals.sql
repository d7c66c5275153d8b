-- Header of the nightly reconciliation report per tenant and UTC day (003 §3.4): totals per side
-- for work orders (ERP vs MES), inventory (MES-implied vs WMS-recorded consumption) and labour
-- (HR attended vs MES booked hours), and the discrepancies found per kind and action.
with work_orders as (
    select * from {{ ref('int_work_orders_joined_to_mes') }}
),

work_order_discrepancies as (
    select * from {{ ref('rpt_work_order_reconciliation_daily') }}
    where {{ in_daily_window('reconciliation_date') }}
),

consumption as (
    select * from {{ ref('int_material_consumption_compared') }}
    where {{ in_daily_window('consumption_date') }}
),

inventory_discrepancies as (
    select * from {{ ref('rpt_inventory_reconciliation') }}
    where {{ in_daily_window('consumption_date') }}
),

labor as (
    select * from {{ ref('int_labor_hours_attended_vs_booked') }}
    where {{ in_daily_window('labor_date') }}
),

labor_discrepancies as (
    select * from {{ ref('rpt_labor_reconciliation') }}
    where {{ in_daily_window('labor_date') }}
),

erp_updates as (
    select tenant_id, cast(erp_last_event_at as date) as reconciliation_date, count(*) as n
    from work_orders
    where is_in_erp
    group by 1, 2
),

mes_updates as (
    select tenant_id, cast(mes_last_updated_at as date) as reconciliation_date, count(*) as n
    from work_orders
    where is_in_mes
    group by 1, 2
),

inventory_sides as (
    select
        tenant_id,
        consumption_date as reconciliation_date,
        count(*) filter (where mes_implied_consumption > 0) as mes_material_count,
        count(*) filter (where wms_recorded_consumption > 0) as wms_material_count
    from consumption
    group by 1, 2
),

labor_sides as (
    select
        tenant_id,
        labor_date as reconciliation_date,
        count(*) filter (where attended_hours > 0) as hr_employee_count,
        count(*) filter (where booked_hours > 0) as mes_employee_count,
        sum(attended_hours) as attended_hours,
        sum(booked_hours) as booked_hours
    from labor
    group by 1, 2
),

all_discrepancies as (
    select tenant_id, reconciliation_date, 'work_order' as kind, severity
    from work_order_discrepancies
    union all
    select tenant_id, consumption_date, 'inventory', severity from inventory_discrepancies
    union all
    select tenant_id, labor_date, 'labor', severity from labor_discrepancies
),

discrepancy_counts as (
    select
        tenant_id,
        reconciliation_date,
        count(*) as discrepancy_count,
        count(*) filter (where kind = 'work_order') as work_order_discrepancy_count,
        count(*) filter (where kind = 'inventory') as inventory_discrepancy_count,
        count(*) filter (where kind = 'labor') as labor_discrepancy_count,
        count(*) filter (where severity = 'high') as manual_review_count,
        count(*) filter (where severity = 'low') as auto_sync_count
    from all_discrepancies
    group by 1, 2
),

days as (
    select tenant_id, reconciliation_date from erp_updates
    union
    select tenant_id, reconciliation_date from mes_updates
    union
    select tenant_id, reconciliation_date from inventory_sides
    union
    select tenant_id, reconciliation_date from labor_sides
    union
    select tenant_id, reconciliation_date from discrepancy_counts
),

final as (
    select
        days.tenant_id,
        days.reconciliation_date,
        cast(coalesce(erp_updates.n, 0) as bigint) as erp_work_order_count,
        cast(coalesce(mes_updates.n, 0) as bigint) as mes_work_order_count,
        cast(coalesce(inventory_sides.mes_material_count, 0) as bigint) as mes_material_count,
        cast(coalesce(inventory_sides.wms_material_count, 0) as bigint) as wms_material_count,
        cast(coalesce(labor_sides.hr_employee_count, 0) as bigint) as hr_employee_count,
        cast(coalesce(labor_sides.mes_employee_count, 0) as bigint) as mes_employee_count,
        cast(round(coalesce(labor_sides.attended_hours, 0), 2) as double) as attended_hours,
        cast(round(coalesce(labor_sides.booked_hours, 0), 2) as double) as booked_hours,
        cast(coalesce(discrepancy_counts.discrepancy_count, 0) as bigint) as discrepancy_count,
        cast(coalesce(discrepancy_counts.work_order_discrepancy_count, 0) as bigint)
            as work_order_discrepancy_count,
        cast(coalesce(discrepancy_counts.inventory_discrepancy_count, 0) as bigint)
            as inventory_discrepancy_count,
        cast(coalesce(discrepancy_counts.labor_discrepancy_count, 0) as bigint)
            as labor_discrepancy_count,
        cast(coalesce(discrepancy_counts.manual_review_count, 0) as bigint) as manual_review_count,
        cast(coalesce(discrepancy_counts.auto_sync_count, 0) as bigint) as auto_sync_count
    from days
    left join erp_updates
        on days.tenant_id = erp_updates.tenant_id
        and days.reconciliation_date = erp_updates.reconciliation_date
    left join mes_updates
        on days.tenant_id = mes_updates.tenant_id
        and days.reconciliation_date = mes_updates.reconciliation_date
    left join inventory_sides
        on days.tenant_id = inventory_sides.tenant_id
        and days.reconciliation_date = inventory_sides.reconciliation_date
    left join labor_sides
        on days.tenant_id = labor_sides.tenant_id
        and days.reconciliation_date = labor_sides.reconciliation_date
    left join discrepancy_counts
        on days.tenant_id = discrepancy_counts.tenant_id
        and days.reconciliation_date = discrepancy_counts.reconciliation_date
)

select * from final
where {{ in_daily_window('reconciliation_date') }}
