-- Operator labour bookings (003 §3.2.2 resources_used), one row per tenant and booking id; a
-- booking re-sent with different bytes keeps its last landed copy.
with source as (
    select * from {{ source('mes', 'labor_bookings') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, booking_id
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        booking_id,
        employee_id,
        work_order_id as erp_work_order_id,
        machine_id,
        start_time as started_at,
        end_time as ended_at,
        hours_worked,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
