-- Keys of each complete full pull (one row per snapshot and key).
with source as (
    select * from {{ source('audit', 'pull_snapshots') }}
),

renamed as (
    select
        tenant_id,
        source as source_system,
        entity,
        snapshot_id,
        record_key,
        snapshot_at,
        run_id
    from source
)

select * from renamed
