-- One row per tenant and inspection id: the latest result by inspection timestamp.
with source as (
    select * from {{ source('mes', 'quality_inspections') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, inspection_id
        order by "timestamp" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        inspection_id,
        machine_id,
        work_order_id as erp_work_order_id,
        "timestamp" as inspected_at,
        inspection_type,
        result as inspection_result,
        defect_detected as is_defect_detected,
        {{ normalized_text('defect_type') }} as defect_type,
        {{ normalized_text('inspector') }} as inspector,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
