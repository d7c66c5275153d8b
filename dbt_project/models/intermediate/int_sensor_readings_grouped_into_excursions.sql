-- Every run of consecutive readings of one sensor outside its thresholds (seed
-- sensor_thresholds, by sensor type, location kind and unit), one row per run: when it started,
-- its last reading outside, how long it lasted, its peak and whether it lasted long enough to be
-- an excursion. Rules (int model yml): readings of quality `bad` are ignored (neither outside nor
-- back inside); a run ends at the first reading back inside the limits or outside on the other
-- side (a new run); gps readings and types without thresholds have no runs.
with readings as (
    select * from {{ ref('stg_iot__sensor_readings') }}
    where reading_quality <> 'bad' and reading_value is not null
),

thresholds as (
    select * from {{ ref('sensor_thresholds') }}
),

classified as (
    select
        r.tenant_id,
        r.sensor_id,
        r.device_id,
        r.sensor_type,
        r.unit,
        r.location_kind,
        r.location_id,
        r.read_at,
        r.reading_value,
        t.min_value,
        t.max_value,
        t.min_duration_seconds,
        t.severity,
        case
            when r.reading_value > t.max_value then 'above_max'
            when r.reading_value < t.min_value then 'below_min'
        end as direction
    from readings as r
    inner join thresholds as t
        on r.sensor_type = t.sensor_type
        and r.location_kind = t.location_kind
        and r.unit = t.unit
),

sequenced as (
    select
        *,
        lag(direction) over per_sensor as previous_direction,
        lead(read_at) over per_sensor as next_read_at
    from classified
    window per_sensor as (partition by tenant_id, sensor_id order by read_at)
),

numbered as (
    select
        *,
        sum(case when direction is distinct from previous_direction then 1 else 0 end) over (
            partition by tenant_id, sensor_id
            order by read_at
            rows between unbounded preceding and current row
        ) as run_number
    from sequenced
),

runs as (
    select
        tenant_id,
        sensor_id,
        run_number,
        direction,
        arg_min(device_id, read_at) as device_id,
        any_value(sensor_type) as sensor_type,
        any_value(unit) as unit,
        arg_min(location_kind, read_at) as location_kind,
        arg_min(location_id, read_at) as location_id,
        min(read_at) as started_at,
        max(read_at) as ended_at,
        arg_max(next_read_at, read_at) as back_in_range_at,
        count(*) as reading_count,
        case
            when direction = 'above_max' then max(reading_value) else min(reading_value)
        end as peak_value,
        case
            when direction = 'above_max' then any_value(max_value) else any_value(min_value)
        end as threshold_value,
        any_value(min_duration_seconds) as min_duration_seconds,
        any_value(severity) as severity
    from numbered
    where direction is not null
    group by tenant_id, sensor_id, run_number, direction
)

select
    tenant_id,
    sensor_id,
    run_number,
    device_id,
    sensor_type,
    unit,
    location_kind,
    location_id,
    direction,
    started_at,
    ended_at,
    back_in_range_at,
    back_in_range_at is null as is_ongoing,
    cast(date_diff('second', started_at, ended_at) as bigint) as duration_seconds,
    reading_count,
    peak_value,
    threshold_value,
    min_duration_seconds,
    severity,
    date_diff('second', started_at, ended_at) >= min_duration_seconds as meets_min_duration
from runs
