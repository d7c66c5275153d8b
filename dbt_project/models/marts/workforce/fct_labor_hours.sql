-- One row per tenant, employee and shift date: hours worked (paired clock-in/clock-out spans)
-- against hours scheduled (planned shifts minus breaks). Attendance spans are dated by the UTC
-- date of their clock-in, schedules by their planned shift date.
with spans as (
    select * from {{ ref('int_attendance_shifts_paired') }}
    where {{ in_daily_window('shift_date') }}
),

shifts as (
    select * from {{ ref('int_shift_schedules_hours') }}
    where {{ in_daily_window('shift_date') }}
),

worked_per_day as (
    select
        tenant_id,
        employee_id,
        shift_date,
        min(clock_in_at) as clock_in_at,
        max(clock_out_at) as clock_out_at,
        count(*) filter (where is_paired) as clock_pair_count,
        count(*) filter (where not is_paired) as unpaired_clock_event_count,
        coalesce(sum(worked_hours), 0) as worked_hours
    from spans
    group by tenant_id, employee_id, shift_date
),

scheduled_per_day as (
    select
        tenant_id,
        employee_id,
        shift_date,
        string_agg(shift_name, ', ' order by shift_start_time) as shift_name,
        min(shift_start_time) as scheduled_start_time,
        bool_or(coalesce(is_overtime, false)) as is_overtime,
        count(*) as scheduled_shift_count,
        sum(break_hours) as break_hours,
        sum(scheduled_hours) as scheduled_hours
    from shifts
    group by tenant_id, employee_id, shift_date
),

final as (
    select
        coalesce(worked_per_day.tenant_id, scheduled_per_day.tenant_id) as tenant_id,
        coalesce(worked_per_day.employee_id, scheduled_per_day.employee_id) as employee_id,
        coalesce(worked_per_day.shift_date, scheduled_per_day.shift_date) as shift_date,
        scheduled_per_day.shift_name,
        scheduled_per_day.scheduled_start_time,
        coalesce(scheduled_per_day.is_overtime, false) as is_overtime,
        scheduled_per_day.tenant_id is not null as is_scheduled,
        cast(coalesce(scheduled_per_day.scheduled_shift_count, 0) as bigint) as scheduled_shift_count,
        worked_per_day.clock_in_at,
        worked_per_day.clock_out_at,
        cast(coalesce(worked_per_day.clock_pair_count, 0) as bigint) as clock_pair_count,
        cast(coalesce(worked_per_day.unpaired_clock_event_count, 0) as bigint) as unpaired_clock_event_count,
        cast(coalesce(worked_per_day.worked_hours, 0) as double) as worked_hours,
        cast(coalesce(scheduled_per_day.break_hours, 0) as double) as break_hours,
        cast(coalesce(scheduled_per_day.scheduled_hours, 0) as double) as scheduled_hours,
        cast(
            coalesce(worked_per_day.worked_hours, 0) - coalesce(scheduled_per_day.scheduled_hours, 0)
            as double
        ) as variance_hours
    from worked_per_day
    full outer join scheduled_per_day
        on worked_per_day.tenant_id = scheduled_per_day.tenant_id
        and worked_per_day.employee_id = scheduled_per_day.employee_id
        and worked_per_day.shift_date = scheduled_per_day.shift_date
)

select * replace (
    {{ utc_timestamptz('clock_in_at') }} as clock_in_at,
    {{ utc_timestamptz('clock_out_at') }} as clock_out_at
)
from final
where {{ in_daily_window('shift_date') }}
