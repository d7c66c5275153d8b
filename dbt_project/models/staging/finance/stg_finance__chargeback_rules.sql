-- One row per tenant and chargeback rule: the record with the latest updatedAt (000 §4.2
-- "penalties for late delivery").
with source as (
    select * from {{ source('finance', 'chargeback_rules') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "ruleId"
        order by "updatedAt" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "ruleId" as rule_id,
        {{ normalized_text('customer') }} as customer,
        cast("graceDays" as integer) as grace_days,
        coalesce("flatFee", 0) as flat_fee,
        coalesce("percentPerDay", 0) as percent_per_day,
        "capPercent" as cap_percent,
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
