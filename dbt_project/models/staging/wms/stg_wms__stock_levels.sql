-- One row per tenant, material and warehouse: the snapshot with the latest last_updated
-- (003 §6.2.1).
with source as (
    select * from {{ source('wms', 'stock_levels') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, material_id, warehouse
        order by last_updated desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        material_id,
        warehouse,
        part_number,
        location as warehouse_location,
        on_hand_quantity,
        allocated_quantity,
        available_quantity,
        unit_of_measure,
        last_updated as snapshot_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
