-- Every tenant, material and UTC day with consumption on either side: MES-implied consumption
-- (production x BOM) against WMS-recorded consumption (CDC consumption events); a side without
-- consumption counts as 0.
with mes as (
    select * from {{ ref('int_material_consumption_mes_implied_daily') }}
),

wms as (
    select * from {{ ref('int_material_consumption_wms_daily') }}
),

compared as (
    select
        coalesce(mes.tenant_id, wms.tenant_id) as tenant_id,
        coalesce(mes.material_id, wms.material_id) as material_id,
        coalesce(mes.consumption_date, wms.consumption_date) as consumption_date,
        cast(coalesce(mes.mes_implied_consumption, 0) as double) as mes_implied_consumption,
        cast(coalesce(wms.wms_recorded_consumption, 0) as double) as wms_recorded_consumption,
        cast(coalesce(mes.work_order_count, 0) as bigint) as work_order_count,
        cast(coalesce(wms.wms_transaction_count, 0) as bigint) as wms_transaction_count
    from mes
    full outer join wms
        on mes.tenant_id = wms.tenant_id
        and mes.material_id = wms.material_id
        and mes.consumption_date = wms.consumption_date
)

select * from compared
