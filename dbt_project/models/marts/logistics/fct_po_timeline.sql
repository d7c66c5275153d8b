-- The PO digital twin (issue 6 §2): one row per tenant × purchase order × stage, from the
-- factory's production stages (000 §2.2) through the shipment's milestones (000 §2.4), with
-- planned, estimated and actual times, delay, stage status and the current stage.
-- Plan rules, status and projection rules: fct_po_timeline.yml; lane plan: macros/po_twin.sql.
with purchase_orders as (
    select
        * replace (
            {{ utc_naive('first_seen_at') }} as first_seen_at,
            {{ utc_naive('updated_at') }} as updated_at
        ),
        cast(ship_window_start_date as timestamp) as ship_window_start_at
    from {{ ref('fct_purchase_orders') }}
    -- the plan rule needs the ship window: a PO without one (an EDI-only PO: 850 / ORDERS
    -- carry none) has no twin
    where ship_window_start_date is not null
),

-- Each side of timed's two joins carries its stage group as a column, so that both joins are
-- equi-joins (hash joins): a constant test of one side in the ON clause made DuckDB join them
-- block-wise nested-loop (35 s of a scale-1 build instead of a fraction of a second).
production as (
    select
        * replace (
            {{ utc_naive('planned_start_at') }} as planned_start_at,
            {{ utc_naive('planned_end_at') }} as planned_end_at,
            {{ utc_naive('actual_start_at') }} as actual_start_at,
            {{ utc_naive('actual_end_at') }} as actual_end_at,
            {{ utc_naive('updated_at') }} as updated_at
        ),
        'production' as stage_group
    from {{ ref('fct_production_milestones') }}
),

milestones as (
    select * replace (
        {{ utc_naive('event_at') }} as event_at,
        {{ utc_naive('reported_at') }} as reported_at,
        {{ utc_naive('first_reported_at') }} as first_reported_at
    )
    from {{ ref('fct_shipment_milestones') }}
    where milestone <> 'DISCHARGED'  -- DCSA only, not a 000 §2.4 milestone
),

-- the PO's shipment: of several bookings, the one reported last
shipments as (
    select
        tenant_id,
        po_id,
        arg_max(shipment_id, reported_at) as shipment_id
    from milestones
    where po_id is not null
    group by tenant_id, po_id
),

air_shipments as (
    select distinct tenant_id, booking_reference as shipment_id
    from {{ ref('stg_logistics__shipment_milestones') }}
    where upper(transport_mode) = 'AIR'
),

stages as (
    select * from (
        values
            ('yarn_received', 1, 'production', -342.0, -342.0, false),
            ('knitting', 2, 'production', -186.0, -186.0, false),
            ('dyeing', 3, 'production', -102.0, -102.0, false),
            ('qa', 4, 'production', -66.0, -66.0, false),
            ('packing', 5, 'production', -6.0, -6.0, false),
            ('GATE_IN', 6, 'logistics', 8.0, 8.0, false),
            ('LOADED_ON_VESSEL', 7, 'logistics', 56.0, null, false),
            ('DEPARTED', 8, 'logistics', 69.0, 23.0, false),
            ('ARRIVED', 9, 'logistics', 69.0, 45.0, true),
            ('GATE_OUT', 10, 'logistics', 136.0, 58.0, true),
            ('OUT_FOR_DELIVERY', 11, 'logistics', 163.0, 66.0, true),
            ('DELIVERED', 12, 'logistics', 170.5, 71.0, true)
    ) as t (stage, stage_sequence, stage_group, sea_offset_hours, air_offset_hours, after_transit)
),

po_stages as (
    select
        po.tenant_id,
        po.po_id,
        po.po_status,
        po.factory,
        po.route_origin,
        po.route_destination,
        po.ship_window_start_at,
        shipments.shipment_id,
        air_shipments.shipment_id is not null as is_air,
        stages.stage,
        stages.stage_sequence,
        stages.stage_group,
        po.ship_window_start_at
        + to_microseconds(cast(
            3600e6 * case
                when air_shipments.shipment_id is not null then stages.air_offset_hours
                else stages.sea_offset_hours
                    + case
                        when stages.after_transit
                            then 24 * {{ planned_transit_days(
                                'po.route_origin', 'po.route_destination', 'po.route_ports') }}
                        else 0
                    end
            end as bigint
        )) as rule_planned_at
    from purchase_orders as po
    cross join stages
    left join shipments
        on po.tenant_id = shipments.tenant_id and po.po_id = shipments.po_id
    left join air_shipments
        on shipments.tenant_id = air_shipments.tenant_id
        and shipments.shipment_id = air_shipments.shipment_id
    -- air freight has no vessel loading
    where not (air_shipments.shipment_id is not null and stages.stage = 'LOADED_ON_VESSEL')
),

events as (
    select
        tenant_id,
        shipment_id,
        milestone,
        'logistics' as stage_group,
        max(event_at) filter (where classifier = 'PLN') as carrier_planned_at,
        max(event_at) filter (where classifier = 'EST') as estimated_at,
        max(event_at) filter (where classifier = 'ACT') as actual_at,
        any_value(location) filter (where classifier = 'ACT') as actual_location
    from milestones
    group by tenant_id, shipment_id, milestone
),

timed as (
    select
        s.*,
        coalesce(p.planned_end_at, e.carrier_planned_at, s.rule_planned_at) as planned_at,
        case
            when p.planned_end_at is not null then 'factory_plan'
            when e.carrier_planned_at is not null then 'carrier_plan'
            else 'plan_rule'
        end as planned_source,
        e.estimated_at,
        coalesce(p.actual_end_at, e.actual_at) as actual_at,
        p.actual_start_at as started_at,
        case
            when s.stage_group = 'production' then s.factory
            when s.stage in ('GATE_IN', 'LOADED_ON_VESSEL', 'DEPARTED')
                then coalesce(e.actual_location, s.route_origin)
            else coalesce(e.actual_location, s.route_destination)
        end as location
    from po_stages as s
    left join production as p
        on s.stage_group = p.stage_group
        and s.tenant_id = p.tenant_id
        and s.po_id = p.po_id
        and s.stage = p.stage
    left join events as e
        on s.stage_group = e.stage_group
        and s.tenant_id = e.tenant_id
        and s.shipment_id = e.shipment_id
        and s.stage = e.milestone
),

progressed as (
    select
        *,
        max(case when actual_at is not null then stage_sequence end) over per_po
            as last_reported_sequence,
        bool_or(stage = 'DELIVERED' and actual_at is not null) over per_po as is_delivered,
        -- delay (seconds) of the latest earlier stage with an actual or estimated time
        last_value(
            date_diff('second', planned_at, coalesce(actual_at, estimated_at)) ignore nulls
        ) over (
            partition by tenant_id, po_id
            order by stage_sequence
            rows between unbounded preceding and 1 preceding
        ) as carried_delay_seconds
    from timed
    window per_po as (partition by tenant_id, po_id)
),

statused as (
    select
        *,
        actual_at is not null or stage_sequence < coalesce(last_reported_sequence, 0) as is_done,
        po_status <> 'cancelled' and not is_delivered as is_po_open
    from progressed
),

-- quality flag: the PO has a sensor excursion where this stage group happens (machines that
-- made its goods: production; the container it travels in: logistics)
excursions as (
    select
        tenant_id,
        po_id,
        case location_kind when 'machine' then 'production' else 'logistics' end as stage_group
    from {{ ref('fct_sensor_excursions') }}
    where po_id is not null
    group by all
),

current_stage as (
    select tenant_id, po_id, min(stage_sequence) as current_sequence
    from statused
    where is_po_open and not is_done
    group by tenant_id, po_id
),

final as (
    select
        s.tenant_id,
        s.po_id,
        s.shipment_id,
        s.stage,
        s.stage_group,
        cast(s.stage_sequence as integer) as stage_sequence,
        s.location,
        s.planned_at,
        s.planned_source,
        s.estimated_at,
        s.actual_at,
        coalesce(
            s.actual_at,
            s.estimated_at,
            s.planned_at + to_seconds(greatest(0, coalesce(s.carried_delay_seconds, 0)))
        ) as expected_at,
        round(date_diff('second', s.planned_at, s.actual_at) / 3600.0, 2) as delay_hours,
        case
            when s.is_done then 'done'
            when c.current_sequence = s.stage_sequence
                and (s.started_at is not null or s.stage_sequence > 1) then 'in_progress'
            else 'not_started'
        end as stage_status,
        coalesce(c.current_sequence = s.stage_sequence, false) as is_current_stage,
        s.is_po_open,
        s.is_air,
        s.po_status,
        e.po_id is not null as has_sensor_excursion,
        {{ po_twin_as_of() }} as as_of_at
    from statused as s
    left join current_stage as c
        on s.tenant_id = c.tenant_id and s.po_id = c.po_id
    left join excursions as e
        on s.tenant_id = e.tenant_id and s.po_id = e.po_id and s.stage_group = e.stage_group
)

select * replace (
    {{ utc_timestamptz('planned_at') }} as planned_at,
    {{ utc_timestamptz('estimated_at') }} as estimated_at,
    {{ utc_timestamptz('actual_at') }} as actual_at,
    {{ utc_timestamptz('expected_at') }} as expected_at,
    {{ utc_timestamptz('as_of_at') }} as as_of_at
)
from final
