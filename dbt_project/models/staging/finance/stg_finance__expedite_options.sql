-- One row per tenant and expedite option (rate-card line): the record with the latest updatedAt
-- (000 §4.2 "cost options for expedited routes").
with source as (
    select * from {{ source('finance', 'expedite_options') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "optionId"
        order by "updatedAt" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "optionId" as option_id,
        "originPort" as origin_port,
        "destinationPort" as destination_port,
        mode as expedite_mode,
        {{ normalized_text('carrier') }} as carrier,
        cast("transitDays" as integer) as transit_days,
        "costBasis" as cost_basis,
        rate,
        coalesce("minimumCharge", 0) as minimum_charge,
        currency,
        "validFrom" as valid_from_date,
        "validTo" as valid_to_date,
        "updatedAt" as updated_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
