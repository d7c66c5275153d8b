-- Integration health per tenant, source system and entity (003 §8.1): last successful landing
-- and its lag, rows landed and quarantined, dead letters, pull and record error rates over the
-- last 24 hours, the circuit breaker state after the last pull, and failed Dagster runs of the
-- entity's ingestion step, paths landing refused to read and CSV columns no contract reads
-- (issue #12 §3-§4). Run failures are platform-wide (tenant `platform`), so each failure
-- counts for every tenant of the entity it names. A skipped tenant folder whose name is not a
-- tenant id is counted under tenant `_invalid` (its own row per source system and entity).
-- Each bridge (MQTT, OPC-UA) is a row of its own (tenant `platform`, source system `bridges`,
-- entity `mqtt` / `opcua`, issue #14 §5): connected state, throughput and lag of its latest
-- health sample, redeliveries and reconnects over 24 hours; a bridge whose latest sample is
-- older than 3 minutes (it samples every minute) or says it stopped is not connected.
with batches as (
    select * from {{ ref('stg_audit__batches') }}
),

connector_runs as (
    select * from {{ ref('stg_audit__connector_runs') }}
),

dead_letters as (
    select * from {{ ref('stg_audit__dead_letters') }}
),

run_failures as (
    select * from {{ ref('stg_dagster__run_failures') }}
),

skipped_paths as (
    select * from {{ ref('stg_audit__skipped_paths') }}
),

schema_drift as (
    select * from {{ ref('stg_audit__schema_drift') }}
),

bridge_samples as (
    select * from {{ ref('stg_bridges__health') }}
),

clock as (
    select cast(current_timestamp at time zone 'UTC' as timestamp) as measured_at
),

entities as (
    select tenant_id, source_system, entity from batches
    union
    select tenant_id, source_system, entity from connector_runs
    union
    select tenant_id, source_system, entity from dead_letters
    union
    select tenant_id, source_system, entity from skipped_paths
    union
    select tenant_id, source_system, entity from schema_drift
    union
    select tenant_id, 'bridges', bridge from bridge_samples
),

landings as (
    select
        batches.tenant_id,
        batches.source_system,
        batches.entity,
        max(batches.landed_at) as last_landed_at,
        sum(case when batches.landed_at >= clock.measured_at - interval 24 hour
            then batches.rows_read else 0 end) as rows_read_24h,
        sum(case when batches.landed_at >= clock.measured_at - interval 24 hour
            then batches.rows_landed else 0 end) as rows_landed_24h,
        sum(case when batches.landed_at >= clock.measured_at - interval 24 hour
            then batches.rows_quarantined else 0 end) as rows_quarantined_24h
    from batches
    cross join clock
    group by batches.tenant_id, batches.source_system, batches.entity
),

pulls as (
    select
        connector_runs.tenant_id,
        connector_runs.source_system,
        connector_runs.entity,
        max(case when connector_runs.is_successful then connector_runs.finished_at end)
            as last_successful_pull_at,
        count(*) filter (
            where connector_runs.finished_at >= clock.measured_at - interval 24 hour
        ) as pulls_24h,
        count(*) filter (
            where connector_runs.finished_at >= clock.measured_at - interval 24 hour
            and not connector_runs.is_successful
        ) as failed_pulls_24h,
        sum(case when connector_runs.finished_at >= clock.measured_at - interval 24 hour
            then connector_runs.requests else 0 end) as requests_24h,
        sum(case when connector_runs.finished_at >= clock.measured_at - interval 24 hour
            then connector_runs.retries else 0 end) as retries_24h
    from connector_runs
    cross join clock
    group by connector_runs.tenant_id, connector_runs.source_system, connector_runs.entity
),

last_pull as (
    select
        tenant_id,
        source_system,
        entity,
        pull_status as last_pull_status,
        breaker_state,
        breaker_consecutive_failures
    from connector_runs
    qualify row_number() over (
        partition by tenant_id, source_system, entity order by finished_at desc, started_at desc
    ) = 1
),

letters as (
    select
        dead_letters.tenant_id,
        dead_letters.source_system,
        dead_letters.entity,
        count(*) as dead_letters_24h
    from dead_letters
    cross join clock
    where dead_letters.failed_at >= clock.measured_at - interval 24 hour
    group by dead_letters.tenant_id, dead_letters.source_system, dead_letters.entity
),

skips as (
    select
        skipped_paths.tenant_id,
        skipped_paths.source_system,
        skipped_paths.entity,
        count(distinct skipped_paths.skipped_path) as paths_skipped_24h
    from skipped_paths
    cross join clock
    where skipped_paths.first_seen_at >= clock.measured_at - interval 24 hour
    group by skipped_paths.tenant_id, skipped_paths.source_system, skipped_paths.entity
),

drift as (
    select
        schema_drift.tenant_id,
        schema_drift.source_system,
        schema_drift.entity,
        count(distinct schema_drift.drifted_column) filter (
            where schema_drift.recorded_at >= clock.measured_at - interval 24 hour
        ) as schema_drift_columns_24h,
        max(schema_drift.recorded_at) as last_schema_drift_at
    from schema_drift
    cross join clock
    group by schema_drift.tenant_id, schema_drift.source_system, schema_drift.entity
),

bridge_latest as (
    select
        bridge_samples.tenant_id,
        bridge_samples.bridge,
        bridge_samples.sampled_at as last_bridge_sample_at,
        bridge_samples.is_running
            and bridge_samples.is_connected
            and bridge_samples.sampled_at >= clock.measured_at - interval 3 minute
            as bridge_connected,
        bridge_samples.messages_per_second as bridge_messages_per_second,
        bridge_samples.lag_seconds as bridge_lag_seconds
    from bridge_samples
    cross join clock
    qualify row_number() over (
        partition by bridge_samples.tenant_id, bridge_samples.bridge
        order by bridge_samples.sampled_at desc, bridge_samples.pid desc
    ) = 1
),

-- Counters are cumulative per bridge process: a process's growth over the window is its
-- newest value in the window minus its newest value before it (0 for a process started in it).
bridge_processes as (
    select
        bridge_samples.tenant_id,
        bridge_samples.bridge,
        bridge_samples.pid,
        max(bridge_samples.redeliveries) filter (
            where bridge_samples.sampled_at >= clock.measured_at - interval 24 hour
        ) - coalesce(max(bridge_samples.redeliveries) filter (
            where bridge_samples.sampled_at < clock.measured_at - interval 24 hour
        ), 0) as redeliveries_24h,
        max(bridge_samples.reconnects) filter (
            where bridge_samples.sampled_at >= clock.measured_at - interval 24 hour
        ) - coalesce(max(bridge_samples.reconnects) filter (
            where bridge_samples.sampled_at < clock.measured_at - interval 24 hour
        ), 0) as reconnects_24h
    from bridge_samples
    cross join clock
    group by bridge_samples.tenant_id, bridge_samples.bridge, bridge_samples.pid
),

bridges as (
    select
        bridge_latest.tenant_id,
        'bridges' as source_system,
        bridge_latest.bridge as entity,
        bridge_latest.last_bridge_sample_at,
        bridge_latest.bridge_connected,
        bridge_latest.bridge_messages_per_second,
        bridge_latest.bridge_lag_seconds,
        cast(coalesce(sum(bridge_processes.redeliveries_24h), 0) as bigint)
            as bridge_redeliveries_24h,
        cast(coalesce(sum(bridge_processes.reconnects_24h), 0) as bigint)
            as bridge_reconnects_24h
    from bridge_latest
    left join bridge_processes
        on bridge_latest.tenant_id = bridge_processes.tenant_id
        and bridge_latest.bridge = bridge_processes.bridge
    group by all
),

failures as (
    select
        entities.tenant_id,
        entities.source_system,
        entities.entity,
        count(run_failures.run_id) as run_failures_24h
    from entities
    cross join clock
    inner join run_failures
        on run_failures.failed_at >= clock.measured_at - interval 24 hour
        and contains(
            coalesce(run_failures.failed_steps, ''),
            'land_' || entities.source_system || '__' || entities.entity
        )
    group by entities.tenant_id, entities.source_system, entities.entity
),

final as (
    select
        entities.tenant_id,
        entities.source_system,
        entities.entity,
        landings.last_landed_at,
        cast(date_diff('second', landings.last_landed_at, clock.measured_at) as bigint)
            as landing_lag_seconds,
        pulls.last_successful_pull_at,
        last_pull.last_pull_status,
        cast(coalesce(landings.rows_read_24h, 0) as bigint) as rows_read_24h,
        cast(coalesce(landings.rows_landed_24h, 0) as bigint) as rows_landed_24h,
        cast(coalesce(landings.rows_quarantined_24h, 0) as bigint) as rows_quarantined_24h,
        cast(coalesce(pulls.pulls_24h, 0) as bigint) as pulls_24h,
        cast(coalesce(pulls.failed_pulls_24h, 0) as bigint) as failed_pulls_24h,
        cast(coalesce(pulls.requests_24h, 0) as bigint) as requests_24h,
        cast(coalesce(pulls.retries_24h, 0) as bigint) as retries_24h,
        cast(coalesce(letters.dead_letters_24h, 0) as bigint) as dead_letters_24h,
        cast(coalesce(failures.run_failures_24h, 0) as bigint) as run_failures_24h,
        cast(coalesce(skips.paths_skipped_24h, 0) as bigint) as paths_skipped_24h,
        cast(coalesce(drift.schema_drift_columns_24h, 0) as bigint) as schema_drift_columns_24h,
        drift.last_schema_drift_at,
        cast(pulls.failed_pulls_24h as double) / nullif(pulls.pulls_24h, 0)
            as pull_error_rate_24h,
        cast(landings.rows_quarantined_24h as double) / nullif(landings.rows_read_24h, 0)
            as record_error_rate_24h,
        last_pull.breaker_state,
        cast(last_pull.breaker_consecutive_failures as bigint) as breaker_consecutive_failures,
        bridges.bridge_connected,
        cast(bridges.bridge_messages_per_second as double) as bridge_messages_per_second,
        cast(bridges.bridge_lag_seconds as double) as bridge_lag_seconds,
        bridges.bridge_redeliveries_24h,
        bridges.bridge_reconnects_24h,
        bridges.last_bridge_sample_at,
        case
            when last_pull.breaker_state = 'open' or last_pull.last_pull_status <> 'landed'
                or not bridges.bridge_connected
                then 'red'
            when coalesce(bridges.bridge_reconnects_24h, 0) > 0
                or coalesce(bridges.bridge_lag_seconds, 0) > 300
                then 'yellow'
            when coalesce(letters.dead_letters_24h, 0) > 0
                or coalesce(failures.run_failures_24h, 0) > 0
                or coalesce(skips.paths_skipped_24h, 0) > 0
                or coalesce(drift.schema_drift_columns_24h, 0) > 0
                or coalesce(
                    cast(landings.rows_quarantined_24h as double)
                    / nullif(landings.rows_read_24h, 0), 0
                ) > 0.05
                then 'yellow'
            else 'green'
        end as health_status,
        clock.measured_at
    from entities
    cross join clock
    left join landings
        on entities.tenant_id = landings.tenant_id
        and entities.source_system = landings.source_system
        and entities.entity = landings.entity
    left join pulls
        on entities.tenant_id = pulls.tenant_id
        and entities.source_system = pulls.source_system
        and entities.entity = pulls.entity
    left join last_pull
        on entities.tenant_id = last_pull.tenant_id
        and entities.source_system = last_pull.source_system
        and entities.entity = last_pull.entity
    left join letters
        on entities.tenant_id = letters.tenant_id
        and entities.source_system = letters.source_system
        and entities.entity = letters.entity
    left join failures
        on entities.tenant_id = failures.tenant_id
        and entities.source_system = failures.source_system
        and entities.entity = failures.entity
    left join skips
        on entities.tenant_id = skips.tenant_id
        and entities.source_system = skips.source_system
        and entities.entity = skips.entity
    left join drift
        on entities.tenant_id = drift.tenant_id
        and entities.source_system = drift.source_system
        and entities.entity = drift.entity
    left join bridges
        on entities.tenant_id = bridges.tenant_id
        and entities.source_system = bridges.source_system
        and entities.entity = bridges.entity
)

select * replace (
    {{ utc_timestamptz('last_landed_at') }} as last_landed_at,
    {{ utc_timestamptz('last_successful_pull_at') }} as last_successful_pull_at,
    {{ utc_timestamptz('last_schema_drift_at') }} as last_schema_drift_at,
    {{ utc_timestamptz('last_bridge_sample_at') }} as last_bridge_sample_at,
    {{ utc_timestamptz('measured_at') }} as measured_at
)
from final
