-- One row per landed drop file (audit.batches), named like the other staging models.
with source as (
    select * from {{ source('audit', 'batches') }}
),

renamed as (
    select
        tenant_id,
        source_system,
        entity,
        batch_id,
        source_file,
        rows_read,
        rows_landed,
        rows_quarantined,
        rows_duplicate,
        started_at,
        finished_at as landed_at,
        run_id
    from source
)

select * from renamed
