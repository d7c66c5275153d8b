-- Failed Dagster runs, one row per run (the recorder writes one file per run id; a re-written
-- file keeps the most recently landed record).
with source as (
    select * from {{ source('dagster', 'run_failures') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, run_id
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        run_id,
        job_name,
        failed_at,
        nullif(failed_steps, '') as failed_steps,
        error_message,
        launched_by,
        _record_hash as record_hash,
        _source_file as source_file,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
