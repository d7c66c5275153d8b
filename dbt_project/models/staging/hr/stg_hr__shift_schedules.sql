-- One row per tenant, employee, shift date and shift start: the most recently landed schedule
-- (a re-synced schedule replaces the earlier one). Times are local plant times.
with source as (
    select * from {{ source('hr', 'shift_schedules') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, employee_id, shift_date, start_time
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        employee_id,
        shift_date,
        {{ normalized_text('shift_name') }} as shift_name,
        start_time as shift_start_time,
        end_time as shift_end_time,
        break_start as break_start_time,
        break_end as break_end_time,
        is_overtime,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
