-- Congestion index per tenant, port and day (formula in int_port_congestion_daily), with the
-- port's name, coordinates and weather zone from reference.ports.
with congestion as (
    select * from {{ ref('int_port_congestion_daily') }}
),

ports as (
    select * from {{ ref('ports') }}
)

select
    congestion.tenant_id,
    congestion.port_locode,
    ports.port_name,
    ports.weather_zone,
    congestion.activity_date,
    congestion.expected_arrivals,
    congestion.arrivals,
    congestion.vessel_calls,
    congestion.departures,
    congestion.departures_with_stay,
    congestion.departure_capacity,
    congestion.avg_hours_in_port,
    congestion.queue_ratio,
    congestion.dwell_ratio,
    congestion.congestion_index,
    congestion.congestion_threshold,
    congestion.is_congested
from congestion
left join ports on congestion.port_locode = ports.locode
