-- Paths landing refused to read (issue #12 §3), one row per entity, path and reason, recorded
-- once when first seen. tenant_id is '_invalid' when the tenant folder's name is not a tenant id;
-- the folder's name as found is folder_name.
with source as (
    select * from {{ source('audit', 'skipped_paths') }}
),

renamed as (
    select
        tenant_id,
        folder_name as tenant_folder_name,
        tenant_id = '_invalid' as is_invalid_tenant,
        source_system,
        entity,
        path as skipped_path,
        reason as skip_reason,
        first_seen_at,
        run_id
    from source
)

select * from renamed
