-- Closed downtime intervals split at UTC midnight: downtime minutes per machine and UTC day.
with intervals as (
    select * from {{ ref('int_downtime_intervals_paired') }}
    where not is_open
),

interval_days as (
    select
        intervals.*,
        cast(unnest(generate_series(
            date_trunc('day', started_at),
            date_trunc('day', ended_at),
            interval 1 day
        )) as date) as production_date
    from intervals
),

clipped as (
    select
        tenant_id,
        machine_id,
        production_date,
        started_at,
        date_diff(
            'second',
            greatest(started_at, cast(production_date as timestamp)),
            least(ended_at, cast(production_date as timestamp) + interval 1 day)
        ) / 60.0 as downtime_minutes
    from interval_days
),

aggregated as (
    select
        tenant_id,
        machine_id,
        production_date,
        sum(downtime_minutes) as downtime_minutes,
        count(*) filter (where cast(started_at as date) = production_date) as downtime_stop_count
    from clipped
    group by tenant_id, machine_id, production_date
)

select * from aggregated
