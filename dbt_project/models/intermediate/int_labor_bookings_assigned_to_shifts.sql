-- MES labour bookings, each dated by the attended shift it falls in: the shift date of the
-- employee's paired clock-in/clock-out span with clock_in_at <= started_at < clock_out_at
-- (so a night shift's bookings after midnight stay on the shift's day), else the UTC date of
-- started_at.
with bookings as (
    select * from {{ ref('stg_mes__labor_bookings') }}
),

spans as (
    select * from {{ ref('int_attendance_shifts_paired') }}
    where is_paired
),

matched as (
    select
        bookings.*,
        spans.shift_date as span_shift_date,
        spans.clock_in_at as span_clock_in_at
    from bookings
    left join spans
        on bookings.tenant_id = spans.tenant_id
        and bookings.employee_id = spans.employee_id
        and bookings.started_at >= spans.clock_in_at
        and bookings.started_at < spans.clock_out_at
    qualify row_number() over (
        partition by bookings.tenant_id, bookings.booking_id
        order by spans.clock_in_at desc nulls last
    ) = 1
),

final as (
    select
        tenant_id,
        booking_id,
        employee_id,
        coalesce(span_shift_date, cast(started_at as date)) as labor_date,
        span_shift_date is not null as is_within_attended_shift,
        erp_work_order_id,
        machine_id,
        started_at,
        ended_at,
        hours_worked
    from matched
)

select * from final
