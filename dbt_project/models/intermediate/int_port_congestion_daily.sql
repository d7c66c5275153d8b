-- Port congestion per tenant, port and Hong Kong calendar day, from the Marine Department
-- vessel movement feeds (000 §3.3: congestion indices from DATA.GOV.HK vessel lists). MarDep
-- covers the port of Hong Kong only: port_locode 'HKHKG'.
--
--   expected_arrivals   distinct call signs with an ETA that day (RP04005i)
--   arrivals            distinct call signs arrived that day (RP05005i)
--   vessel_calls        distinct call signs arrived or expected that day (the demand on berths)
--   departures          distinct call signs departed that day (RP05505i)
--   departure_capacity  mean departures per day over the days of the last 7 that have any
--                       departure; a day outside the departure feed's window (the feeds cover
--                       36 hours back, ETAs days ahead) takes the nearest earlier value, else
--                       the nearest later one
--   avg_hours_in_port   mean hours from a departing vessel's latest earlier arrival (within
--                       30 days) to its departure, over that day's departures with one
--   queue_ratio         vessel_calls / departure_capacity: > 1 means more ships come than the
--                       port has been clearing, so berths and anchorages fill up
--   dwell_ratio         avg_hours_in_port / port_congestion_reference_dwell_hours (var, 24 h)
--   congestion_index    (queue_ratio + dwell_ratio) / 2, dwell_ratio taken as queue_ratio on a
--                       day without a measured stay; 1.0 = normal traffic and normal stays
--   is_congested        congestion_index >= port_congestion_threshold (var, default 1.5)
{% set reference_dwell_hours = var('port_congestion_reference_dwell_hours', 24) %}
{% set threshold = var('port_congestion_threshold', 1.5) %}
with expected_calls as (
    select distinct
        tenant_id,
        cast(timezone('Asia/Hong_Kong', timezone('UTC', expected_arrival_at)) as date)
            as activity_date,
        call_sign
    from {{ ref('stg_port__vessel_expected_arrivals') }}
),

arrived_calls as (
    select distinct
        tenant_id,
        cast(timezone('Asia/Hong_Kong', timezone('UTC', arrived_at)) as date) as activity_date,
        call_sign
    from {{ ref('stg_port__vessels_arrived') }}
),

expected as (
    select tenant_id, activity_date, count(*) as expected_arrivals
    from expected_calls
    group by all
),

arrived as (
    select tenant_id, activity_date, count(*) as arrivals
    from arrived_calls
    group by all
),

calls as (
    select tenant_id, activity_date, count(*) as vessel_calls
    from (select * from expected_calls union select * from arrived_calls)
    group by all
),

departure_stays as (
    select
        d.tenant_id,
        d.call_sign,
        cast(timezone('Asia/Hong_Kong', timezone('UTC', d.departed_at)) as date)
            as activity_date,
        (
            select date_diff('second', max(a.arrived_at), d.departed_at)
            from {{ ref('stg_port__vessels_arrived') }} as a
            where a.tenant_id = d.tenant_id
                and a.call_sign = d.call_sign
                and a.arrived_at <= d.departed_at
                and a.arrived_at > d.departed_at - interval 30 days
        ) as seconds_in_port
    from {{ ref('stg_port__vessels_departed') }} as d
),

departed as (
    select
        tenant_id,
        activity_date,
        count(distinct call_sign) as departures,
        count(seconds_in_port) as departures_with_stay,
        -- an exact integer mean, then hours: a mean of floats depends on the order rows are
        -- added in (parallel aggregation), enough to flip the 4th decimal of dwell_ratio
        avg(seconds_in_port) / 3600.0 as avg_hours_in_port
    from departure_stays
    group by all
),

days as (
    select tenant_id, activity_date from expected
    union
    select tenant_id, activity_date from arrived
    union
    select tenant_id, activity_date from departed
),

counted as (
    select
        days.tenant_id,
        'HKHKG' as port_locode,
        days.activity_date,
        coalesce(expected.expected_arrivals, 0) as expected_arrivals,
        coalesce(arrived.arrivals, 0) as arrivals,
        coalesce(calls.vessel_calls, 0) as vessel_calls,
        coalesce(departed.departures, 0) as departures,
        coalesce(departed.departures_with_stay, 0) as departures_with_stay,
        departed.avg_hours_in_port
    from days
    left join expected using (tenant_id, activity_date)
    left join arrived using (tenant_id, activity_date)
    left join departed using (tenant_id, activity_date)
    left join calls using (tenant_id, activity_date)
),

capacity as (
    select
        *,
        case
            when departures > 0 then avg(nullif(departures, 0)) over (
                partition by tenant_id, port_locode
                order by activity_date
                range between interval 6 days preceding and current row
            )
        end as capacity_on_covered_day
    from counted
),

capacity_filled as (
    select
        *,
        coalesce(
            last_value(capacity_on_covered_day ignore nulls) over (
                partition by tenant_id, port_locode
                order by activity_date
                rows between unbounded preceding and current row
            ),
            first_value(capacity_on_covered_day ignore nulls) over (
                partition by tenant_id, port_locode
                order by activity_date
                rows between current row and unbounded following
            )
        ) as departure_capacity
    from capacity
),

ratios as (
    select
        *,
        vessel_calls / departure_capacity as queue_ratio,
        avg_hours_in_port / {{ reference_dwell_hours }} as dwell_ratio
    from capacity_filled
)

select
    tenant_id,
    port_locode,
    activity_date,
    expected_arrivals,
    arrivals,
    vessel_calls,
    departures,
    departures_with_stay,
    round(departure_capacity, 4) as departure_capacity,
    round(avg_hours_in_port, 2) as avg_hours_in_port,
    round(queue_ratio, 4) as queue_ratio,
    round(dwell_ratio, 4) as dwell_ratio,
    round((queue_ratio + coalesce(dwell_ratio, queue_ratio)) / 2, 4) as congestion_index,
    cast({{ threshold }} as double) as congestion_threshold,
    coalesce((queue_ratio + coalesce(dwell_ratio, queue_ratio)) / 2 >= {{ threshold }}, false)
        as is_congested
from ratios
