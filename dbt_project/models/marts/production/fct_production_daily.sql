-- One row per tenant, machine and UTC day with production, downtime and OEE.
-- Planned production time is the whole day (1440 minutes): the sources carry no plant calendar,
-- so availability = (1440 - downtime minutes) / 1440. Run time = planned - downtime.
-- performance = ideal cycle time x units / run seconds (capped at 1), quality = good / units,
-- oee = availability x performance x quality (0 on a day without units or without run time).
{% set planned_minutes = 1440 %}

with production_counts as (
    select * from {{ ref('stg_mes__production_counts') }}
    where {{ in_daily_window('counted_at') }}
),

inspections as (
    select * from {{ ref('stg_mes__quality_inspections') }}
    where {{ in_daily_window('inspected_at') }}
),

downtime as (
    select * from {{ ref('int_downtime_minutes_split_by_day') }}
    where {{ in_daily_window('production_date') }}
),

machines as (
    select * from {{ ref('stg_mes__machines') }}
),

counts_per_day as (
    select
        tenant_id,
        machine_id,
        cast(counted_at as date) as production_date,
        sum(units_produced) as units_produced,
        sum(case when quality_status = 'pass' then units_produced else 0 end) as good_units,
        sum(case when quality_status = 'fail' then units_produced else 0 end) as scrap_units
    from production_counts
    group by all
),

inspections_per_day as (
    select
        tenant_id,
        machine_id,
        cast(inspected_at as date) as production_date,
        count(*) as inspection_count,
        count(*) filter (where inspection_result = 'fail') as failed_inspection_count
    from inspections
    group by all
),

machine_days as (
    select tenant_id, machine_id, production_date from counts_per_day
    union
    select tenant_id, machine_id, production_date from inspections_per_day
    union
    select tenant_id, machine_id, production_date from downtime
),

measured as (
    select
        machine_days.tenant_id,
        machine_days.machine_id,
        machine_days.production_date,
        machines.factory,
        machines.ideal_cycle_time_seconds,
        cast(coalesce(counts_per_day.units_produced, 0) as bigint) as units_produced,
        cast(coalesce(counts_per_day.good_units, 0) as bigint) as good_units,
        cast(coalesce(counts_per_day.scrap_units, 0) as bigint) as scrap_units,
        cast(coalesce(inspections_per_day.inspection_count, 0) as bigint) as inspection_count,
        cast(coalesce(inspections_per_day.failed_inspection_count, 0) as bigint) as failed_inspection_count,
        cast(coalesce(downtime.downtime_stop_count, 0) as bigint) as downtime_stop_count,
        least(coalesce(downtime.downtime_minutes, 0), {{ planned_minutes }}) as downtime_minutes,
        cast({{ planned_minutes }} as double) as planned_minutes
    from machine_days
    left join machines
        on machine_days.tenant_id = machines.tenant_id
        and machine_days.machine_id = machines.machine_id
    left join counts_per_day
        on machine_days.tenant_id = counts_per_day.tenant_id
        and machine_days.machine_id = counts_per_day.machine_id
        and machine_days.production_date = counts_per_day.production_date
    left join inspections_per_day
        on machine_days.tenant_id = inspections_per_day.tenant_id
        and machine_days.machine_id = inspections_per_day.machine_id
        and machine_days.production_date = inspections_per_day.production_date
    left join downtime
        on machine_days.tenant_id = downtime.tenant_id
        and machine_days.machine_id = downtime.machine_id
        and machine_days.production_date = downtime.production_date
),

rates as (
    select
        *,
        planned_minutes - downtime_minutes as run_minutes,
        (planned_minutes - downtime_minutes) / planned_minutes as availability,
        case
            when planned_minutes - downtime_minutes > 0
                then least(
                    1.0,
                    ideal_cycle_time_seconds * units_produced / ((planned_minutes - downtime_minutes) * 60)
                )
        end as performance,
        case when units_produced > 0 then good_units / units_produced end as quality
    from measured
),

final as (
    select
        tenant_id,
        machine_id,
        production_date,
        factory,
        units_produced,
        good_units,
        scrap_units,
        inspection_count,
        failed_inspection_count,
        downtime_stop_count,
        downtime_minutes,
        planned_minutes,
        run_minutes,
        ideal_cycle_time_seconds,
        availability,
        performance,
        quality,
        case
            when units_produced = 0 or run_minutes <= 0 then 0.0
            else availability * performance * quality
        end as oee
    from rates
)

select * from final
where {{ in_daily_window('production_date') }}
