-- Worked spans per employee: a clock_in is closed by the employee's next event if that is a
-- clock_out. A clock_in followed by another clock_in (or nothing) stays open; a clock_out not
-- preceded by a clock_in is kept as an unpaired span. The span's shift date is the UTC date of
-- its clock_in (of its clock_out when unpaired): attendance carries no plant time zone.
with attendance as (
    select * from {{ ref('stg_hr__attendance') }}
),

sequenced as (
    select
        *,
        lag(event_type) over per_employee as previous_event_type,
        lead(event_type) over per_employee as next_event_type,
        lead(event_at) over per_employee as next_event_at
    from attendance
    window per_employee as (
        partition by tenant_id, employee_id
        order by event_at, event_type
    )
),

from_clock_ins as (
    select
        tenant_id,
        employee_id,
        event_at as clock_in_at,
        case when next_event_type = 'clock_out' then next_event_at end as clock_out_at,
        location
    from sequenced
    where event_type = 'clock_in'
),

orphan_clock_outs as (
    select
        tenant_id,
        employee_id,
        cast(null as timestamp) as clock_in_at,
        event_at as clock_out_at,
        location
    from sequenced
    where event_type = 'clock_out'
        and coalesce(previous_event_type, 'clock_out') <> 'clock_in'
),

spans as (
    select * from from_clock_ins
    union all
    select * from orphan_clock_outs
),

final as (
    select
        tenant_id,
        employee_id,
        cast(coalesce(clock_in_at, clock_out_at) as date) as shift_date,
        clock_in_at,
        clock_out_at,
        clock_in_at is not null and clock_out_at is not null as is_paired,
        case
            when clock_in_at is not null and clock_out_at is not null
                then date_diff('second', clock_in_at, clock_out_at) / 3600.0
        end as worked_hours,
        location
    from spans
)

select * from final
