-- Vessels expected to arrive in Hong Kong (MarDep RP04005i), one row per tenant, call sign and
-- expected arrival time. The feed is re-published every hour: an ETA that moves is a new row (a
-- new forecast); a forecast re-published with other changes (PASI, STATUS) keeps its last landed
-- copy. ETA is Hong Kong local time without an offset; `expected_arrival_at` is UTC.
with source as (
    select * from {{ source('port', 'vessel_expected_arrivals') }}
),

parsed as (
    select
        *,
        {{ mardep_hk_local_time('"ETA"') }} as eta_hk_local
    from source
),

deduplicated as (
    select *
    from parsed
    qualify row_number() over (
        partition by tenant_id, "CALL_SIGN", eta_hk_local
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
        "LAST_PORT" as last_port,
        "AGENT_NAME" as agent_name,
        {{ hk_local_to_utc('eta_hk_local') }} as expected_arrival_at,
        "PASI" as pasi_status,
        "STATUS" as status,
        _feed as mardep_feed,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
