-- Reconciliation report header per tenant (003 §3.4): work orders known to ERP and to MES and
-- the discrepancies found, by type.
with work_orders as (
    select * from {{ ref('int_work_orders_joined_to_mes') }}
),

discrepancies as (
    select * from {{ ref('int_work_order_discrepancies_classified') }}
),

work_order_counts as (
    select
        tenant_id,
        count(*) filter (where is_in_erp) as erp_work_order_count,
        count(*) filter (where is_in_mes) as mes_work_order_count
    from work_orders
    group by tenant_id
),

discrepancy_counts as (
    select
        tenant_id,
        count(*) as discrepancy_count,
        count(distinct erp_work_order_id) as work_orders_with_discrepancies_count,
        count(*) filter (where discrepancy_type = 'missing_in_mes') as missing_in_mes_count,
        count(*) filter (where discrepancy_type = 'missing_in_erp') as missing_in_erp_count,
        count(*) filter (where discrepancy_type = 'status_conflict') as status_conflict_count,
        count(*) filter (where discrepancy_type = 'quantity_mismatch') as quantity_mismatch_count,
        count(*) filter (where discrepancy_type = 'description_mismatch') as description_mismatch_count,
        count(*) filter (where severity = 'high') as manual_review_count,
        count(*) filter (where severity = 'low') as auto_sync_count
    from discrepancies
    group by tenant_id
),

final as (
    select
        work_order_counts.tenant_id,
        cast(work_order_counts.erp_work_order_count as bigint) as erp_work_order_count,
        cast(work_order_counts.mes_work_order_count as bigint) as mes_work_order_count,
        cast(coalesce(discrepancy_counts.discrepancy_count, 0) as bigint) as discrepancy_count,
        cast(coalesce(discrepancy_counts.work_orders_with_discrepancies_count, 0) as bigint)
            as work_orders_with_discrepancies_count,
        cast(coalesce(discrepancy_counts.missing_in_mes_count, 0) as bigint) as missing_in_mes_count,
        cast(coalesce(discrepancy_counts.missing_in_erp_count, 0) as bigint) as missing_in_erp_count,
        cast(coalesce(discrepancy_counts.status_conflict_count, 0) as bigint) as status_conflict_count,
        cast(coalesce(discrepancy_counts.quantity_mismatch_count, 0) as bigint) as quantity_mismatch_count,
        cast(coalesce(discrepancy_counts.description_mismatch_count, 0) as bigint)
            as description_mismatch_count,
        cast(coalesce(discrepancy_counts.manual_review_count, 0) as bigint) as manual_review_count,
        cast(coalesce(discrepancy_counts.auto_sync_count, 0) as bigint) as auto_sync_count
    from work_order_counts
    left join discrepancy_counts
        on work_order_counts.tenant_id = discrepancy_counts.tenant_id
)

select * from final
