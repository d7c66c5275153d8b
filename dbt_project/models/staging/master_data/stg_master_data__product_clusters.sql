-- One row per tenant and product source record with the canonical product id identity resolution
-- gave it (traceloom_pipelines/master_data/resolve.py).
with source as (
    select * from {{ source('master_data', 'product_clusters') }}
),

renamed as (
    select
        tenant_id,
        record_id,
        source as source_kind,
        source_id,
        source_priority,
        canonical_id as canonical_product_id,
        name,
        tax_id,
        duns,
        gln,
        gtin,
        edi_partner_id,
        country,
        city,
        product_id,
        resolved_at
    from source
)

select * from renamed
