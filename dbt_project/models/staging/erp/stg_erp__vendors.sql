-- One row per tenant and ERP vendor (latest `updatedAt`): the vendor master identity resolution keys suppliers on (deterministic keys tax id, DUNS, GLN, EDI partner id).
with source as (
    select * from {{ source('erp', 'vendors') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "vendorId"
        order by "updatedAt" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "vendorId" as vendor_id,
        {{ normalized_text('"vendorName"') }} as vendor_name,
        nullif(trim("taxId"), '') as tax_id,
        nullif(trim(duns), '') as duns,
        nullif(trim(gln), '') as gln,
        upper(nullif(trim(country), '')) as country,
        nullif(trim(city), '') as city,
        nullif(trim("ediPartnerId"), '') as edi_partner_id,
        "updatedAt" as updated_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
