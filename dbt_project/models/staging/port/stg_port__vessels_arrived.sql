-- Vessels arrived in Hong Kong in the last 36 hours (MarDep RP05005i), one row per tenant, call
-- sign and arrival time. Consecutive pulls overlap (36-hour window): exact repeats are skipped at
-- landing, and a row re-published with a change (REMARK 'Departed') keeps its last landed copy.
-- ARRIVAL_TIME is Hong Kong local time without an offset; `arrived_at` is UTC.
with source as (
    select * from {{ source('port', 'vessels_arrived') }}
),

parsed as (
    select
        *,
        {{ mardep_hk_local_time('"ARRIVAL_TIME"') }} as arrival_hk_local
    from source
),

deduplicated as (
    select *
    from parsed
    qualify row_number() over (
        partition by tenant_id, "CALL_SIGN", arrival_hk_local
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "CALL_SIGN" as call_sign,
        {{ normalized_vessel_name('"VESSEL_NAME"') }} as vessel_name,
        "VESSEL_NAME" as vessel_name_as_published,
        "SHIP_TYPE" as ship_type,
        "AGENT_NAME" as agent_name,
        "CURRENT_LOCATION" as current_location,
        {{ hk_local_to_utc('arrival_hk_local') }} as arrived_at,
        "REMARK" as remark,
        coalesce(lower("REMARK") = 'departed', false) as has_departed,
        _feed as mardep_feed,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
