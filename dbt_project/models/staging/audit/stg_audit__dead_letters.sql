-- Failed source requests (003 §7.2), one row per dead letter; secrets were redacted on write.
with source as (
    select * from {{ source('audit', 'dead_letters') }}
),

renamed as (
    select
        tenant_id,
        source as source_system,
        entity,
        url,
        params,
        status as http_status,
        error_class,
        error as error_message,
        body_excerpt,
        attempts,
        failed_at,
        run_id
    from source
)

select * from renamed
