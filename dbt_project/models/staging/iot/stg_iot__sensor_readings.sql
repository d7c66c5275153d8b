-- Sensor readings, one row per tenant, sensor and reading time. Exact redeliveries (MQTT QoS 1
-- is at least once) are already skipped at landing; a reading re-sent with different bytes (same
-- sensor and timestamp) keeps its last landed copy.
with source as (
    select * from {{ source('iot', 'sensor_readings') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "sensorId", "timestamp"
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "sensorId" as sensor_id,
        "deviceId" as device_id,
        "type" as sensor_type,
        unit,
        "value" as reading_value,
        "timestamp" as read_at,
        coalesce(quality, 'good') as reading_quality,
        "locationKind" as location_kind,
        "locationId" as location_id,
        latitude,
        longitude,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
