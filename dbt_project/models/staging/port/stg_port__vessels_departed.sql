-- Vessels departed from Hong Kong in the last 36 hours (MarDep RP05505i), one row per tenant,
-- call sign and departure time (consecutive pulls overlap; a re-published row keeps its last
-- landed copy). ATD_TIME is Hong Kong local time without an offset; `departed_at` is UTC.
with source as (
    select * from {{ source('port', 'vessels_departed') }}
),

parsed as (
    select
        *,
        {{ mardep_hk_local_time('"ATD_TIME"') }} as departure_hk_local
    from source
),

deduplicated as (
    select *
    from parsed
    qualify row_number() over (
        partition by tenant_id, "CALL_SIGN", departure_hk_local
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
        {{ hk_local_to_utc('departure_hk_local') }} as departed_at,
        "LAST_BERTH" as last_berth,
        _feed as mardep_feed,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
