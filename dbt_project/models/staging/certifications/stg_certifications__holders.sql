-- One row per tenant and certificate holder (latest `updatedAt`), a supplier under the certifier's spelling; matched to suppliers by DUNS, else by name and place.
with source as (
    select * from {{ source('certifications', 'holders') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "holderId"
        order by "updatedAt" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "holderId" as holder_id,
        {{ normalized_text('"holderName"') }} as holder_name,
        nullif(trim(duns), '') as duns,
        upper(nullif(trim(country), '')) as country,
        nullif(trim(city), '') as city,
        "updatedAt" as updated_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
