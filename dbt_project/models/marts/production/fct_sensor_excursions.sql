-- Sensor excursions (000 §3.1: "PO-related events when thresholds or anomalies occur"): one row
-- per run of readings outside the thresholds that lasted at least the seed's minimum duration,
-- linked to the purchase order it concerns — a machine's through the work order running on it
-- when the excursion started (ERP customer order), a container's through the shipment it
-- carries (fct_shipment_milestones). Link rules: fct_sensor_excursions.yml.
with runs as (
    select * from {{ ref('int_sensor_readings_grouped_into_excursions') }}
    where meets_min_duration
),

work_orders as (
    select
        tenant_id,
        erp_work_order_id,
        customer_order_id,
        mes_machine_id,
        mes_started_at,
        mes_ended_at
    from {{ ref('int_work_orders_joined_to_mes') }}
    where is_in_erp and mes_machine_id is not null and mes_started_at is not null
),

shipments as (
    select
        tenant_id,
        container_number,
        shipment_id,
        any_value(po_id) as po_id,
        min({{ utc_naive('event_at') }}) as first_event_at
    from {{ ref('fct_shipment_milestones') }}
    where container_number is not null
    group by tenant_id, container_number, shipment_id
),

-- the work order running on the machine when the excursion started (the latest started, if
-- the MES reports several)
machine_links as (
    select
        r.tenant_id,
        r.sensor_id,
        r.started_at,
        arg_max(w.erp_work_order_id, w.mes_started_at) as work_order_id,
        arg_max(w.customer_order_id, w.mes_started_at) as po_id
    from runs as r
    inner join work_orders as w
        on r.tenant_id = w.tenant_id
        and r.location_id = w.mes_machine_id
        and w.mes_started_at <= r.started_at
        and coalesce(w.mes_ended_at, 'infinity'::timestamp) > r.started_at
    where r.location_kind = 'machine'
    group by r.tenant_id, r.sensor_id, r.started_at
),

-- the container's shipment: of its shipments, the latest whose first milestone is at or
-- before the excursion's start
container_links as (
    select
        r.tenant_id,
        r.sensor_id,
        r.started_at,
        arg_max(s.shipment_id, s.first_event_at) as shipment_id,
        arg_max(s.po_id, s.first_event_at) as po_id
    from runs as r
    inner join shipments as s
        on r.tenant_id = s.tenant_id
        and r.location_id = s.container_number
        and s.first_event_at <= r.started_at
    where r.location_kind = 'container'
    group by r.tenant_id, r.sensor_id, r.started_at
)

select
    r.tenant_id,
    r.sensor_id || '@' || strftime(r.started_at, '%Y-%m-%dT%H:%M:%SZ') as excursion_id,
    r.sensor_id,
    r.device_id,
    r.sensor_type,
    r.unit,
    r.location_kind,
    r.location_id,
    r.direction,
    {{ utc_timestamptz('r.started_at') }} as started_at,
    {{ utc_timestamptz('r.ended_at') }} as ended_at,
    r.duration_seconds,
    r.is_ongoing,
    cast(r.reading_count as bigint) as reading_count,
    r.peak_value,
    r.threshold_value,
    cast(r.min_duration_seconds as bigint) as min_duration_seconds,
    r.severity,
    m.work_order_id,
    c.shipment_id,
    coalesce(m.po_id, c.po_id) as po_id
from runs as r
left join machine_links as m
    on r.tenant_id = m.tenant_id and r.sensor_id = m.sensor_id and r.started_at = m.started_at
left join container_links as c
    on r.tenant_id = c.tenant_id and r.sensor_id = c.sensor_id and r.started_at = c.started_at
