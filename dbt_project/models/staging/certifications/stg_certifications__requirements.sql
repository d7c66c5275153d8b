-- One row per tenant and certificate type: the latest requirement record (a later
-- `required: false` retires the requirement).
with source as (
    select * from {{ source('certifications', 'requirements') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, trim("certificateType")
        order by "updatedAt" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        trim("certificateType") as certificate_type,
        required as is_required,
        "updatedAt" as updated_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
