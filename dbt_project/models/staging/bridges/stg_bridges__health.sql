-- The bridges' health samples, one row per bridge process and sample time (a replayed drop file
-- keeps the most recently landed record). Counters are cumulative since the process started.
with source as (
    select * from {{ source('bridges', 'health') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, bridge, pid, sampled_at
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        bridge,
        pid,
        sampled_at,
        endpoint,
        running as is_running,
        connected as is_connected,
        messages_per_second,
        lag_seconds,
        messages_received,
        messages_written,
        malformed as messages_malformed,
        redeliveries,
        reconnects,
        _record_hash as record_hash,
        _source_file as source_file,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
