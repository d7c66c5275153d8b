-- One row per tenant and shipper party (latest `updatedAt`), a supplier under the carrier's spelling; matched to suppliers by name and place only (no registry id).
with source as (
    select * from {{ source('logistics', 'shippers') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "shipperId"
        order by "updatedAt" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "shipperId" as shipper_id,
        {{ normalized_text('"shipperName"') }} as shipper_name,
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
