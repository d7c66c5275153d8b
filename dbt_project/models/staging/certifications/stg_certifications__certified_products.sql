-- One row per tenant and certified article (latest `updatedAt`), a product under the certifier's spelling; matched to products by GTIN, else by name.
with source as (
    select * from {{ source('certifications', 'certified_products') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "articleNumber"
        order by "updatedAt" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "articleNumber" as article_number,
        {{ normalized_text('"articleName"') }} as article_name,
        nullif(trim("holderId"), '') as holder_id,
        nullif(trim(gtin), '') as gtin,
        "updatedAt" as updated_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
