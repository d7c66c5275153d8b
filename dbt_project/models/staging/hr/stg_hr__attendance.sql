-- Clock events, one row per tenant, employee, event type and timestamp (a re-sent webhook with
-- different bytes keeps its last landed copy).
with source as (
    select * from {{ source('hr', 'attendance') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, employee_id, event_type, "timestamp"
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        employee_id,
        event_type,
        "timestamp" as event_at,
        {{ normalized_text('location') }} as location,
        shift_id,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
