-- Batch details of the winning (latest) snapshot of each material and warehouse.
with source as (
    select * from {{ source('wms', 'stock_batches') }}
),

stock_levels as (
    select * from {{ ref('stg_wms__stock_levels') }}
),

batches_of_latest_snapshot as (
    select source.*
    from source
    inner join stock_levels
        on source.tenant_id = stock_levels.tenant_id
        and source._parent_record_hash = stock_levels.record_hash
),

renamed as (
    select
        tenant_id,
        material_id,
        warehouse,
        _child_index + 1 as batch_line_number,
        batch_number,
        quantity as batch_quantity,
        expiration_date,
        _parent_record_hash as stock_level_record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from batches_of_latest_snapshot
)

select * from renamed
