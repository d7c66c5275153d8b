-- One row per tenant and material: the most recently landed master record (the material master
-- carries no change timestamp, so landing order decides: later run, later file, later row).
with source as (
    select * from {{ source('erp', 'materials') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, material_id
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        material_id,
        part_number,
        {{ normalized_text('part_name') }} as part_name,
        {{ normalized_text('description') }} as material_description,
        {{ normalized_text('category') }} as category,
        unit_of_measure,
        standard_cost,
        currency,
        is_active,
        safety_stock_quantity,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
