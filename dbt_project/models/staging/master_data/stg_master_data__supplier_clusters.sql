-- One row per tenant and supplier source record with the canonical supplier id identity resolution
-- gave it (traceloom_pipelines/master_data/resolve.py).
with source as (
    select * from {{ source('master_data', 'supplier_clusters') }}
),

renamed as (
    select
        tenant_id,
        record_id,
        source as source_kind,
        source_id,
        source_priority,
        canonical_id as canonical_supplier_id,
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
