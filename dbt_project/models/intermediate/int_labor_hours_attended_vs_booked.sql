-- Attended hours (HR: paired clock-in -> clock-out spans, dated by the clock-in's UTC date)
-- against booked hours (MES labour bookings dated by the shift they start in) per tenant,
-- employee and day, for direct-labour employees only: department Manufacturing in the HR
-- master, or any MES booking at all. A side without hours counts as 0.
with spans as (
    select * from {{ ref('int_attendance_shifts_paired') }}
    where is_paired
),

bookings as (
    select * from {{ ref('int_labor_bookings_assigned_to_shifts') }}
),

employees as (
    select * from {{ ref('stg_hr__employees') }}
),

direct_labor as (
    select tenant_id, employee_id from employees where department = 'Manufacturing'
    union
    select tenant_id, employee_id from bookings
),

attended as (
    select
        tenant_id,
        employee_id,
        shift_date as labor_date,
        min(clock_in_at) as clock_in_at,
        max(clock_out_at) as clock_out_at,
        sum(worked_hours) as attended_hours
    from spans
    group by tenant_id, employee_id, shift_date
),

booked as (
    select
        tenant_id,
        employee_id,
        labor_date,
        sum(hours_worked) as booked_hours,
        count(*) as booking_count,
        count(distinct erp_work_order_id) as work_order_count
    from bookings
    group by tenant_id, employee_id, labor_date
),

compared as (
    select
        coalesce(attended.tenant_id, booked.tenant_id) as tenant_id,
        coalesce(attended.employee_id, booked.employee_id) as employee_id,
        coalesce(attended.labor_date, booked.labor_date) as labor_date,
        attended.clock_in_at,
        attended.clock_out_at,
        cast(coalesce(attended.attended_hours, 0) as double) as attended_hours,
        cast(coalesce(booked.booked_hours, 0) as double) as booked_hours,
        cast(coalesce(booked.booking_count, 0) as bigint) as booking_count,
        cast(coalesce(booked.work_order_count, 0) as bigint) as work_order_count
    from attended
    full outer join booked
        on attended.tenant_id = booked.tenant_id
        and attended.employee_id = booked.employee_id
        and attended.labor_date = booked.labor_date
),

final as (
    select compared.*
    from compared
    inner join direct_labor
        on compared.tenant_id = direct_labor.tenant_id
        and compared.employee_id = direct_labor.employee_id
)

select * from final
