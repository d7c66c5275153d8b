-- MES-implied material consumption per tenant, material and UTC day: for every work order that
-- produced that day, units produced x quantity_required / quantity_ordered of each line of its
-- bill of materials (latest ERP event). Work orders without an ERP BOM imply nothing.
with units as (
    select * from {{ ref('int_production_units_split_by_day') }}
),

bom_lines as (
    select * from {{ ref('stg_erp__work_order_bom_lines') }}
),

work_orders as (
    select * from {{ ref('stg_erp__work_orders') }}
),

per_work_order as (
    select
        units.tenant_id,
        bom_lines.material_id,
        units.production_date as consumption_date,
        units.erp_work_order_id,
        units.units_produced * bom_lines.quantity_required / work_orders.quantity_ordered
            as implied_quantity
    from units
    inner join work_orders
        on units.tenant_id = work_orders.tenant_id
        and units.erp_work_order_id = work_orders.erp_work_order_id
    inner join bom_lines
        on units.tenant_id = bom_lines.tenant_id
        and units.erp_work_order_id = bom_lines.erp_work_order_id
    where work_orders.quantity_ordered > 0
),

aggregated as (
    select
        tenant_id,
        material_id,
        consumption_date,
        cast(sum(implied_quantity) as double) as mes_implied_consumption,
        count(distinct erp_work_order_id) as work_order_count
    from per_work_order
    group by tenant_id, material_id, consumption_date
)

select * from aggregated
