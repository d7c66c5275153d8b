-- Vessels in Hong Kong waters (MarDep RP06005i), one row per tenant, call sign and arrival time
-- (one port stay), with the last landed location. The feed is a snapshot, but an unchanged row
-- in a later snapshot is an exact duplicate and is not landed again, so this model says which
-- stays were seen, not which vessels are in port right now. ARRIVAL_TIME is Hong Kong local time
-- without an offset; `arrived_at` is UTC. MarDep gives vessels without an IMO number a temporary
-- id 'TEMP…' in IMO_NO: that is not an IMO number (`imo_number` null, `is_temporary_imo`).
with source as (
    select * from {{ source('port', 'vessels_in_port') }}
),

parsed as (
    select
        *,
        {{ mardep_hk_local_time('"ARRIVAL_TIME"') }} as arrival_hk_local,
        coalesce(upper("IMO_NO") like 'TEMP%', false) as is_temporary_imo
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
        case when not is_temporary_imo then "IMO_NO" end as imo_number,
        is_temporary_imo,
        "IMO_NO" as imo_no_as_published,
        "SHIP_TYPE" as ship_type,
        "FLAG" as flag,
        "AGENT_NAME" as agent_name,
        "CURRENT_LOCATION" as current_location,
        {{ hk_local_to_utc('arrival_hk_local') }} as arrived_at,
        _feed as mardep_feed,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
