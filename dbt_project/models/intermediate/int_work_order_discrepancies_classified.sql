-- ERP <-> MES work-order discrepancies as of now, classified (003 §3.4): one row per discrepancy.
-- The one place the rules live: marts.rpt_work_order_reconciliation_daily dates these rows for
-- the nightly report, marts.rpt_work_order_reconciliation_summary counts them per tenant.
-- ERP side = latest event per erp_work_order_id, MES side = latest record per JobNumber; MES
-- statuses are compared after mapping to TraceLoom's vocabulary. A work order can have several
-- discrepancies (e.g. a status conflict and a quantity mismatch, or a description mismatch).
-- Low-risk discrepancies are auto-synced, high-risk ones go to manual review (003 §3.4 steps 5-6).
with work_orders as (
    select * from {{ ref('int_work_orders_joined_to_mes') }}
),

missing_in_mes as (
    select
        *,
        'missing_in_mes' as discrepancy_type,
        'low' as severity,
        'auto-sync: release work order to MES' as proposed_action,
        'ERP work order exists, its ERP status is not cancelled, and no MES job has it as JobNumber' as rule
    from work_orders
    where is_in_erp and not is_in_mes and erp_status <> 'cancelled'
),

missing_in_erp as (
    select
        *,
        'missing_in_erp' as discrepancy_type,
        'high' as severity,
        'manual review' as proposed_action,
        'MES job exists whose JobNumber is not an ERP work order' as rule
    from work_orders
    where is_in_mes and not is_in_erp
),

status_conflict as (
    select
        *,
        'status_conflict' as discrepancy_type,
        'high' as severity,
        'manual review' as proposed_action,
        'ERP status is completed or cancelled and the mapped MES status differs, '
            || 'or the mapped MES status is completed and the ERP status is not' as rule
    from work_orders
    where is_in_erp and is_in_mes
        and (
            (erp_status in ('completed', 'cancelled') and mes_status is distinct from erp_status)
            or (mes_status = 'completed' and erp_status <> 'completed')
        )
),

quantity_mismatch as (
    select
        *,
        'quantity_mismatch' as discrepancy_type,
        'high' as severity,
        'manual review' as proposed_action,
        'ERP quantity_ordered differs from MES Quantity' as rule
    from work_orders
    where is_in_erp and is_in_mes
        and erp_quantity is distinct from mes_quantity
),

-- ERP product_name vs MES PartDescription, both already whitespace-normalised in staging
-- (macro normalized_text), so padding, tabs and line breaks never count; case does (a
-- recapitalised name is an edit to sync). Low risk, auto-synced ERP -> MES: 003 §3.4 step 5's
-- example of a low-risk discrepancy is a description update, and ERP is the work order's system
-- of record (003 §3.2.1). A side with no description (MES need not send PartDescription: 003
-- §4.3 maps none) is nothing to compare, not a mismatch.
description_mismatch as (
    select
        *,
        'description_mismatch' as discrepancy_type,
        'low' as severity,
        'auto-sync: update MES description from ERP' as proposed_action,
        'ERP product_name differs from MES PartDescription after whitespace normalisation '
            || '(case-sensitive; not compared when either is missing)' as rule
    from work_orders
    where is_in_erp and is_in_mes
        and erp_description is not null
        and mes_description is not null
        and erp_description <> mes_description
),

discrepancies as (
    select * from missing_in_mes
    union all
    select * from missing_in_erp
    union all
    select * from status_conflict
    union all
    select * from quantity_mismatch
    union all
    select * from description_mismatch
),

final as (
    select
        tenant_id,
        md5(tenant_id || '|' || erp_work_order_id || '|' || discrepancy_type) as discrepancy_id,
        erp_work_order_id,
        discrepancy_type,
        severity,
        proposed_action,
        rule,
        erp_status,
        mes_status,
        erp_quantity,
        mes_quantity,
        erp_description,
        mes_description,
        is_in_erp,
        is_in_mes,
        erp_last_event_at,
        mes_last_updated_at
    from discrepancies
)

select * from final
