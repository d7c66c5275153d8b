-- Production count messages, one row per tenant, machine, work order and message timestamp.
-- Exact replays are already skipped at landing; a message re-sent with different bytes (same
-- machine, work order and timestamp) keeps its last landed copy.
with source as (
    select * from {{ source('mes', 'production_counts') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, machine_id, work_order_id, "timestamp"
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        machine_id,
        work_order_id as erp_work_order_id,
        "timestamp" as counted_at,
        units_produced,
        cumulative_units,
        quality_status,
        cycle_time_seconds,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
