-- One row per tenant and audit id: the record with the latest updatedAt (000 §4.1).
with source as (
    select * from {{ source('certifications', 'audits') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "auditId"
        order by "updatedAt" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "auditId" as audit_id,
        {{ normalized_text('site') }} as factory,
        "certificateId" as certificate_id,
        "auditType" as audit_type,
        "auditDate" as audit_date,
        result as audit_result,
        score as audit_score,
        {{ normalized_text('auditor') }} as auditor,
        "updatedAt" as updated_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
