-- One row per tenant and certificate id: the record with the latest updatedAt (000 §4.1).
with source as (
    select * from {{ source('certifications', 'certificates') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "certificateId"
        order by "updatedAt" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "certificateId" as certificate_id,
        trim("certificateType") as certificate_type,
        {{ normalized_text('"holderSite"') }} as factory,
        {{ normalized_text('"holderName"') }} as holder_name,
        {{ normalized_text('scope') }} as scope,
        {{ normalized_text('issuer') }} as issuer,
        "validFrom" as valid_from_date,
        "validTo" as valid_to_date,
        status as certificate_status,
        "updatedAt" as updated_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
