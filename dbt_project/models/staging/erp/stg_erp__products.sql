-- One row per tenant and ERP product (latest `updatedAt`): the product master identity resolution keys products on (GTIN, product id).
with source as (
    select * from {{ source('erp', 'products') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "productId"
        order by "updatedAt" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "productId" as product_id,
        {{ normalized_text('"productName"') }} as product_name,
        nullif(trim(gtin), '') as gtin,
        category as category,
        unit as unit,
        "updatedAt" as updated_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
