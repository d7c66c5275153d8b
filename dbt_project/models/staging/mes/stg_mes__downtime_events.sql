-- Downtime started/ended events, one row per tenant, machine, event type and timestamp
-- (a re-sent event with different bytes keeps its last landed copy).
with source as (
    select * from {{ source('mes', 'downtime_events') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, machine_id, event_type, "timestamp"
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        machine_id,
        event_type,
        "timestamp" as event_at,
        downtime_reason_code,
        {{ normalized_text('downtime_reason_description') }} as downtime_reason_description,
        severity,
        estimated_repair_time_minutes,
        work_order_affected as affected_work_order_id,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
