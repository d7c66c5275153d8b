-- One row per pull of one tenant's entity by a pull connector (003 §8.1).
with source as (
    select * from {{ source('audit', 'connector_runs') }}
),

renamed as (
    select
        tenant_id,
        source as source_system,
        entity,
        run_id,
        started_at,
        finished_at,
        status as pull_status,
        status = 'landed' as is_successful,
        cursor_before,
        cursor_after,
        files_written,
        requests,
        retries,
        dead_letters,
        breaker_state,
        breaker_consecutive_failures,
        error as error_message
    from source
)

select * from renamed
