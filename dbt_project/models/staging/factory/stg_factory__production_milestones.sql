-- One row per tenant, PO and production stage: the record with the latest updatedAt (000 §2.2).
with source as (
    select * from {{ source('factory', 'production_milestones') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "poId", stage
        order by "updatedAt" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "poId" as po_id,
        stage,
        {{ normalized_text('factory') }} as factory,
        "workOrderId" as work_order_id,
        "machineLine" as machine_line,
        "plannedStart" as planned_start_at,
        "plannedEnd" as planned_end_at,
        "actualStart" as actual_start_at,
        "actualEnd" as actual_end_at,
        "qaResult" as qa_result,
        "updatedAt" as updated_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
