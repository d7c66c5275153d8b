-- Failed Dagster runs and escalation alerts, one row per record file: the recorder writes one
-- file per failed run, an ingestion step one per run and entity whose source refused a tenant's
-- credentials 3 times in a row (traceloom_pipelines/sources/dagster/records.py). A re-written
-- file keeps the most recently landed record.
with source as (
    select * from {{ source('dagster', 'run_failures') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, _source_file
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
        case
            when _source_file like '%.auth.%.json' then 'auth_escalation' else 'run_failure'
        end as record_kind,
        _record_hash as record_hash,
        _source_file as source_file,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
