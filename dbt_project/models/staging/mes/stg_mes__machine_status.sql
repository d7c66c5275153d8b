-- Machine status samples, one row per tenant, machine and sample timestamp. Exact replays are
-- already skipped at landing; a sample re-sent with different bytes keeps its last landed copy.
with source as (
    select * from {{ source('mes', 'machine_status') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "MachineId", "LastUpdateTimestamp"
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "MachineId" as machine_id,
        "LastUpdateTimestamp" as status_at,
        "CurrentStatus" as mes_status,
        "UtilizationPercentage" as utilization_pct,
        "CurrentWorkOrderId" as current_work_order_id,
        "UnitsProducedThisCycle" as units_produced_this_cycle,
        "CycleTimeSeconds" as cycle_time_seconds,
        "DowntimeSeconds" as downtime_seconds,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
