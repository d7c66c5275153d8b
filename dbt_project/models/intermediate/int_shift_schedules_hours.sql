-- Scheduled working hours per planned shift: end - start (a shift ending at or before its start
-- runs past midnight) minus the break (same rule; no break = 0), in hours.
with shift_schedules as (
    select * from {{ ref('stg_hr__shift_schedules') }}
),

raw_durations as (
    select
        *,
        date_diff('second', shift_start_time, shift_end_time) as raw_shift_seconds,
        date_diff('second', break_start_time, break_end_time) as raw_break_seconds
    from shift_schedules
),

durations as (
    select
        *,
        case
            when raw_shift_seconds <= 0 then raw_shift_seconds + 86400 else raw_shift_seconds
        end as shift_seconds,
        coalesce(
            case when raw_break_seconds < 0 then raw_break_seconds + 86400 else raw_break_seconds end,
            0
        ) as break_seconds
    from raw_durations
),

final as (
    select
        tenant_id,
        employee_id,
        shift_date,
        shift_name,
        shift_start_time,
        shift_end_time,
        break_start_time,
        break_end_time,
        is_overtime,
        shift_seconds / 3600.0 as shift_hours,
        break_seconds / 3600.0 as break_hours,
        (shift_seconds - break_seconds) / 3600.0 as scheduled_hours
    from durations
)

select * from final
