-- Nightly inventory reconciliation (003 §3.4 process applied to §6.3 consumption): one row per
-- tenant, material and UTC day whose WMS-recorded consumption differs from the MES-implied
-- consumption (units produced x BOM quantity_required / quantity_ordered) beyond tolerance.
--   tolerance  = max(inventory_tolerance_min_quantity, inventory_tolerance_pct x MES-implied)
--   low risk   = |variance| <= inventory_low_risk_pct x MES-implied -> auto-sync (post a WMS
--                inventory adjustment to the MES-implied quantity)
--   high risk  = anything larger, WMS consumption without production, production without WMS
--                consumption -> manual review
{%- set tolerance_min = var('inventory_tolerance_min_quantity', 1.0) %}
{%- set tolerance_pct = var('inventory_tolerance_pct', 0.02) %}
{%- set low_risk_pct = var('inventory_low_risk_pct', 0.10) %}
with compared as (
    select * from {{ ref('int_material_consumption_compared') }}
    where {{ in_daily_window('consumption_date') }}
),

materials as (
    select * from {{ ref('stg_erp__materials') }}
),

measured as (
    select
        *,
        wms_recorded_consumption - mes_implied_consumption as variance,
        greatest({{ tolerance_min }}, {{ tolerance_pct }} * mes_implied_consumption) as tolerance
    from compared
),

discrepancies as (
    select * from measured
    where abs(variance) > tolerance
),

classified as (
    select
        *,
        case
            when mes_implied_consumption > 0
                and abs(variance) <= {{ low_risk_pct }} * mes_implied_consumption then 'low'
            else 'high'
        end as severity,
        case
            when mes_implied_consumption = 0
                then 'INV-HIGH-NO-PRODUCTION: WMS recorded consumption, MES production implies none'
            when wms_recorded_consumption = 0
                then 'INV-HIGH-NOT-POSTED: MES production implies consumption, WMS recorded none'
            when abs(variance) <= {{ low_risk_pct }} * mes_implied_consumption
                then 'INV-LOW: |WMS - MES| > max({{ tolerance_min }}, {{ tolerance_pct * 100 }}% of MES) '
                    || 'and <= {{ low_risk_pct * 100 }}% of MES-implied consumption'
            else 'INV-HIGH: |WMS - MES| > {{ low_risk_pct * 100 }}% of MES-implied consumption'
        end as rule
    from discrepancies
),

final as (
    select
        classified.tenant_id,
        md5(classified.tenant_id || '|' || classified.material_id || '|'
            || cast(classified.consumption_date as varchar)) as discrepancy_id,
        classified.material_id,
        classified.consumption_date,
        materials.part_number,
        materials.part_name,
        materials.unit_of_measure,
        round(classified.mes_implied_consumption, 3) as mes_implied_consumption,
        round(classified.wms_recorded_consumption, 3) as wms_recorded_consumption,
        round(classified.variance, 3) as variance,
        case
            when classified.mes_implied_consumption > 0
                then round(100.0 * classified.variance / classified.mes_implied_consumption, 2)
        end as variance_pct,
        round(classified.tolerance, 3) as tolerance,
        classified.severity,
        case
            when classified.severity = 'low'
                then 'auto-sync: post WMS inventory adjustment to MES-implied consumption'
            else 'manual review'
        end as proposed_action,
        classified.rule,
        classified.work_order_count,
        classified.wms_transaction_count
    from classified
    left join materials
        on classified.tenant_id = materials.tenant_id
        and classified.material_id = materials.material_id
)

select * from final
where {{ in_daily_window('consumption_date') }}
