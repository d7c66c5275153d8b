-- One row per tenant, material and warehouse: the latest WMS stock snapshot with its batches,
-- compared to the material's safety stock from the ERP material master. Safety stock is set per
-- material, so each warehouse position is compared to it on its own.
with stock_levels as (
    select * from {{ ref('stg_wms__stock_levels') }}
),

stock_batches as (
    select * from {{ ref('stg_wms__stock_batches') }}
),

materials as (
    select * from {{ ref('stg_erp__materials') }}
),

batches_per_position as (
    select
        tenant_id,
        material_id,
        warehouse,
        count(*) as batch_count,
        min(expiration_date) as earliest_expiration_date
    from stock_batches
    group by tenant_id, material_id, warehouse
),

positions as (
    select
        *,
        -- WMS sends available; when it does not, on hand minus allocated
        coalesce(available_quantity, on_hand_quantity - coalesce(allocated_quantity, 0))
            as position_available_quantity
    from stock_levels
),

final as (
    select
        positions.tenant_id,
        positions.material_id,
        positions.warehouse,
        positions.warehouse_location,
        coalesce(positions.part_number, materials.part_number) as part_number,
        materials.part_name,
        coalesce(positions.unit_of_measure, materials.unit_of_measure) as unit_of_measure,
        positions.on_hand_quantity,
        coalesce(positions.allocated_quantity, 0) as allocated_quantity,
        positions.position_available_quantity as available_quantity,
        materials.safety_stock_quantity,
        coalesce(
            positions.position_available_quantity < materials.safety_stock_quantity, false
        ) as is_below_safety_stock,
        cast(coalesce(batches_per_position.batch_count, 0) as bigint) as batch_count,
        batches_per_position.earliest_expiration_date,
        positions.snapshot_at
    from positions
    left join materials
        on positions.tenant_id = materials.tenant_id
        and positions.material_id = materials.material_id
    left join batches_per_position
        on positions.tenant_id = batches_per_position.tenant_id
        and positions.material_id = batches_per_position.material_id
        and positions.warehouse = batches_per_position.warehouse
)

select * replace (
    {{ utc_timestamptz('snapshot_at') }} as snapshot_at
)
from final
