-- Nightly labour reconciliation (003 §3.4 process applied to the §5.2.2 actual-hours report):
-- one row per tenant, direct-labour employee and day whose hours booked in MES differ from the
-- hours attended in HR (clock-in -> clock-out) beyond tolerance.
--   tolerance  = labor_tolerance_hours
--   low risk   = |variance| <= labor_low_risk_hours -> auto-sync (adjust the MES bookings to
--                the attended hours)
--   high risk  = anything larger, or hours booked without attendance -> manual review
{%- set tolerance_hours = var('labor_tolerance_hours', 0.25) %}
{%- set low_risk_hours = var('labor_low_risk_hours', 1.0) %}
with compared as (
    select * from {{ ref('int_labor_hours_attended_vs_booked') }}
    where {{ in_daily_window('labor_date') }}
),

measured as (
    select
        *,
        booked_hours - attended_hours as variance_hours
    from compared
),

discrepancies as (
    select * from measured
    where abs(variance_hours) > {{ tolerance_hours }}
),

classified as (
    select
        *,
        case
            when attended_hours > 0 and abs(variance_hours) <= {{ low_risk_hours }} then 'low'
            else 'high'
        end as severity,
        case
            when attended_hours = 0
                then 'LAB-HIGH-NO-ATTENDANCE: hours booked in MES on a day without attended hours'
            when booked_hours = 0
                then 'LAB-HIGH-NOT-BOOKED: hours attended, none booked in MES'
            when abs(variance_hours) <= {{ low_risk_hours }}
                then 'LAB-LOW: {{ tolerance_hours }} h < |booked - attended| <= {{ low_risk_hours }} h'
            else 'LAB-HIGH: |booked - attended| > {{ low_risk_hours }} h'
        end as rule
    from discrepancies
),

final as (
    select
        tenant_id,
        md5(tenant_id || '|' || employee_id || '|' || cast(labor_date as varchar)) as discrepancy_id,
        employee_id,
        labor_date,
        round(attended_hours, 4) as attended_hours,
        round(booked_hours, 4) as booked_hours,
        round(variance_hours, 4) as variance_hours,
        cast({{ tolerance_hours }} as double) as tolerance_hours,
        severity,
        case
            when severity = 'low' then 'auto-sync: adjust MES bookings to HR attended hours'
            else 'manual review'
        end as proposed_action,
        rule,
        clock_in_at,
        clock_out_at,
        booking_count,
        work_order_count
    from classified
)

select * replace (
    {{ utc_timestamptz('clock_in_at') }} as clock_in_at,
    {{ utc_timestamptz('clock_out_at') }} as clock_out_at
)
from final
where {{ in_daily_window('labor_date') }}
