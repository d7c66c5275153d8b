-- Delay risk of every open purchase order (not delivered, not cancelled), issue 6 §2: five risk
-- signals with their evidence, a combined risk level and the reason in plain words; and the
-- cost of the expected delay vs the cheapest expedite option (issue #16 §4). Windows, signal
-- rules, the level rule and the cost rule: fct_po_delay_risk.yml. Public feeds (HKO warnings,
-- MarDep congestion, AIS) apply to every tenant, so they are joined without a tenant key.
{% set eta_tolerance_hours = var('po_risk_eta_tolerance_hours', 24) %}
{% set late_production_hours = var('po_risk_late_production_hours', 24) %}
with timeline as (
    select * replace (
        {{ utc_naive('planned_at') }} as planned_at,
        {{ utc_naive('estimated_at') }} as estimated_at,
        {{ utc_naive('actual_at') }} as actual_at,
        {{ utc_naive('expected_at') }} as expected_at,
        {{ utc_naive('as_of_at') }} as as_of_at
    )
    from {{ ref('fct_po_timeline') }}
),

purchase_orders as (
    select * replace (
        {{ utc_naive('first_seen_at') }} as first_seen_at,
        {{ utc_naive('updated_at') }} as updated_at
    )
    from {{ ref('fct_purchase_orders') }}
),

open_pos as (
    select
        tenant_id,
        po_id,
        any_value(shipment_id) as shipment_id,
        any_value(po_status) as po_status,
        any_value(as_of_at) as as_of_at,
        any_value(stage) filter (where is_current_stage) as current_stage,
        max(expected_at) filter (where stage = 'GATE_IN') as exp_gate_in,
        max(expected_at) filter (where stage = 'DEPARTED') as exp_departed,
        max(expected_at) filter (where stage = 'ARRIVED') as exp_arrived,
        max(expected_at) filter (where stage = 'GATE_OUT') as exp_gate_out,
        max(planned_at) filter (where stage = 'GATE_IN') as plan_gate_in,
        max(planned_at) filter (where stage = 'DEPARTED') as plan_departed,
        max(planned_at) filter (where stage = 'ARRIVED') as plan_arrived,
        max(expected_at) filter (where stage = 'DELIVERED') as exp_delivered,
        bool_or(stage_group = 'logistics' and stage_status = 'done') as has_shipped,
        coalesce(bool_or(stage = 'DEPARTED' and stage_status = 'done'), false) as has_departed
    from timeline
    where is_po_open
    group by tenant_id, po_id
),

route as (
    select
        o.*,
        cast(json_extract_string(p.route_ports, '$[*]') as varchar[]) as ports
    from open_pos as o
    inner join purchase_orders as p
        on o.tenant_id = p.tenant_id and o.po_id = p.po_id
),

route_ports as (
    select
        *,
        unnest(ports) as port_locode,
        unnest(generate_series(0, len(ports) - 1)) as port_index,
        len(ports) as port_count
    from route
),

-- where the PO is expected (and was planned) at each port of its route: origin from gate-in
-- to departure, destination from arrival to gate-out, a transshipment port k of n at k/(n-1)
-- of the voyage for one day
port_windows as (
    select
        tenant_id,
        po_id,
        port_locode,
        port_index,
        case
            when port_index = 0 then exp_gate_in
            when port_index = port_count - 1 then exp_arrived
            else exp_departed + to_microseconds(
                (epoch_us(exp_arrived) - epoch_us(exp_departed)) * port_index // (port_count - 1)
            )
        end as window_start_at,
        case
            when port_index = 0 then exp_departed
            when port_index = port_count - 1 then exp_gate_out
            else exp_departed + to_microseconds(
                (epoch_us(exp_arrived) - epoch_us(exp_departed)) * port_index // (port_count - 1)
            ) + interval 1 day
        end as window_end_at,
        case
            when port_index = 0 then plan_gate_in
            when port_index = port_count - 1 then plan_arrived
            else plan_departed + to_microseconds(
                (epoch_us(plan_arrived) - epoch_us(plan_departed)) * port_index // (port_count - 1)
            )
        end as planned_arrival_at,
        exp_departed
    from route_ports
),

named_windows as (
    select
        w.*,
        coalesce(ports.port_name, w.port_locode) as port_name,
        ports.weather_zone
    from port_windows as w
    left join {{ ref('ports') }} as ports on w.port_locode = ports.locode
),

-- (a) storm: a typhoon signal No. 3 or higher, or a red / black rainstorm warning, in force
-- (or still in force, no end yet) during the PO's time at a port of the warning's zone
severe_warnings as (
    select
        *,
        case
            when warning_statement_code = 'WTCSGNL'
                then 'Typhoon signal No. ' || regexp_extract(warning_code, 'TC(\d+)', 1)
            when warning_code = 'WRAINB' then 'Black rainstorm warning'
            else 'Red rainstorm warning'
        end as warning_label
    from {{ ref('int_weather_warning_intervals') }}
    where (warning_statement_code = 'WTCSGNL' and warning_code not in ('TC1', 'CANCEL'))
        or warning_code in ('WRAINR', 'WRAINB')
),

storm as (
    select
        w.tenant_id,
        w.po_id,
        string_agg(
            s.warning_label || ' in force at ' || w.port_name || ' (' || w.port_locode || ') from '
            || strftime(s.started_at, '%Y-%m-%d %H:%M') || ' UTC'
            || coalesce(' to ' || strftime(s.ended_at, '%Y-%m-%d %H:%M') || ' UTC', ', still in force')
            || ' during this PO''s port call (' || strftime(w.window_start_at, '%Y-%m-%d')
            || ' to ' || strftime(w.window_end_at, '%Y-%m-%d') || ')',
            '; ' order by s.started_at
        ) as storm_evidence
    from named_windows as w
    inner join severe_warnings as s
        on w.weather_zone = s.weather_zone
        and s.started_at < w.window_end_at
        and coalesce(s.ended_at, 'infinity'::timestamp) > w.window_start_at
    group by w.tenant_id, w.po_id
),

-- (b) congestion: a Hong Kong calendar day of the PO's time at a port whose congestion index
-- is at or above the threshold (int_port_congestion_daily)
congested_calls as (
    select
        w.tenant_id,
        w.po_id,
        w.port_locode,
        w.port_name,
        w.window_start_at,
        w.window_end_at,
        max(c.congestion_threshold) as congestion_threshold,
        string_agg(
            strftime(c.activity_date, '%Y-%m-%d') || ' (index '
            || printf('%.2f', c.congestion_index) || ')',
            ', ' order by c.activity_date
        ) as congested_days
    from named_windows as w
    inner join {{ ref('int_port_congestion_daily') }} as c
        on w.port_locode = c.port_locode
        and c.activity_date between
            cast(timezone('Asia/Hong_Kong', timezone('UTC', w.window_start_at)) as date)
            and cast(timezone('Asia/Hong_Kong', timezone('UTC', w.window_end_at)) as date)
    where c.is_congested
    group by all
),

congestion as (
    select
        tenant_id,
        po_id,
        string_agg(
            port_name || ' (' || port_locode || ') congested on ' || congested_days
            || ', threshold ' || printf('%.2f', congestion_threshold)
            || ', during this PO''s port call (' || strftime(window_start_at, '%Y-%m-%d')
            || ' to ' || strftime(window_end_at, '%Y-%m-%d') || ')',
            '; ' order by window_start_at
        ) as congestion_evidence
    from congested_calls
    group by tenant_id, po_id
),

-- (c) vessel ETA: the latest AIS static report of the PO's vessel (int_vessel_ais_matches)
-- bound for a port after the origin, sent between a day before the PO's departure and two days
-- after its expected arrival there, gives an ETA later than the planned arrival + tolerance
po_vessels as (
    select distinct o.tenant_id, o.po_id, m.mmsi, m.ais_ship_name
    from open_pos as o
    inner join {{ ref('fct_shipment_milestones') }} as sm
        on o.tenant_id = sm.tenant_id and o.shipment_id = sm.shipment_id
    inner join {{ ref('int_vessel_ais_matches') }} as m
        on sm.tenant_id = m.tenant_id
        and sm.vessel_name = m.shipment_vessel_name
        and sm.voyage is not distinct from m.voyage
    where m.is_matched
),

eta_reports as (
    select
        w.tenant_id,
        w.po_id,
        w.port_locode,
        w.port_name,
        w.planned_arrival_at,
        v.ais_ship_name,
        arg_max(a.eta_at, a.reported_at) as ais_eta_at
    from named_windows as w
    inner join po_vessels as v on w.tenant_id = v.tenant_id and w.po_id = v.po_id
    inner join {{ ref('stg_ais__static_reports') }} as a
        on a.mmsi = v.mmsi
        and upper(trim(a.destination)) = w.port_locode
        and a.reported_at >= w.exp_departed - interval 1 day
        and a.reported_at <= w.window_start_at + interval 2 days
    where w.port_index > 0 and a.eta_at is not null
    group by all
),

late_eta as (
    select
        tenant_id,
        po_id,
        max(date_diff('second', planned_arrival_at, ais_eta_at) / 3600.0) as eta_delay_hours,
        string_agg(
            'AIS ETA of ' || ais_ship_name || ' at ' || port_name || ' (' || port_locode || ') is '
            || strftime(ais_eta_at, '%Y-%m-%d %H:%M') || ' UTC, '
            || printf('%.0f', date_diff('second', planned_arrival_at, ais_eta_at) / 3600.0)
            || ' h after the planned arrival ' || strftime(planned_arrival_at, '%Y-%m-%d %H:%M')
            || ' UTC',
            '; ' order by port_locode
        ) as eta_evidence
    from eta_reports
    where ais_eta_at > planned_arrival_at + interval {{ eta_tolerance_hours }} hours
    group by tenant_id, po_id
),

-- (d) late production: before the PO ships, a factory-reported stage ended more than the
-- tolerance after its planned end, or is not ended that long after it
late_production as (
    select
        t.tenant_id,
        t.po_id,
        string_agg(
            'production stage ' || t.stage || ' '
            || case
                when t.actual_at is not null
                    then 'ended ' || printf('%.0f', t.delay_hours) || ' h late ('
                        || strftime(t.actual_at, '%Y-%m-%d %H:%M') || ' UTC, planned '
                        || strftime(t.planned_at, '%Y-%m-%d %H:%M') || ' UTC)'
                else 'not finished, planned to end ' || strftime(t.planned_at, '%Y-%m-%d %H:%M')
                    || ' UTC'
            end,
            '; ' order by t.stage_sequence
        ) as production_evidence
    from timeline as t
    inner join open_pos as o on t.tenant_id = o.tenant_id and t.po_id = o.po_id
    where not o.has_shipped
        and t.stage_group = 'production'
        and t.planned_source = 'factory_plan'
        and (
            t.actual_at > t.planned_at + interval {{ late_production_hours }} hours
            or (
                t.actual_at is null
                and t.as_of_at > t.planned_at + interval {{ late_production_hours }} hours
            )
        )
    group by t.tenant_id, t.po_id
),

-- (e) sensor excursion: a sensor excursion linked to the PO (fct_sensor_excursions: on a
-- machine while one of its work orders ran, or in its shipment's container)
sensor_excursion as (
    select
        tenant_id,
        po_id,
        count(*) as sensor_excursion_count,
        string_agg(
            sensor_type || ' ' || replace(direction, '_', ' ') || ' '
            || printf('%g', threshold_value) || ' ' || unit || ' (peak '
            || printf('%g', peak_value) || ') at ' || replace(location_kind, '_', ' ') || ' '
            || location_id || ' from ' || strftime({{ utc_naive('started_at') }}, '%Y-%m-%d %H:%M') || ' UTC for '
            || printf('%.0f', duration_seconds / 60.0) || ' min, ' || severity || ' severity',
            '; ' order by started_at, sensor_id
        ) as sensor_excursion_evidence
    from {{ ref('fct_sensor_excursions') }}
    where po_id is not null
    group by tenant_id, po_id
),

-- cost of delay (issue #16 §4, 000 §4.2): the expected lateness against the requested delivery
-- date priced by the customer's chargeback rule, vs the cheapest expedite option of the lane
-- (stg_finance__*); rules in fct_po_delay_risk.yml
po_values as (
    select
        o.tenant_id,
        o.po_id,
        o.exp_departed,
        o.exp_arrived,
        o.exp_delivered,
        o.has_departed,
        cast(o.as_of_at as date) as as_of_date,
        p.customer,
        p.quantity,
        p.order_value,
        p.currency,
        p.requested_delivery_date,
        p.route_origin,
        p.route_destination,
        -- days the expected delivery falls after the requested date (negative = early)
        date_diff('day', p.requested_delivery_date, cast(o.exp_delivered as date)) as lateness_days
    from open_pos as o
    inner join purchase_orders as p
        on o.tenant_id = p.tenant_id and o.po_id = p.po_id
),

chargeback_rules as (
    -- the customer's rule valid on the as-of day; of several, the latest valid_from wins
    select
        v.tenant_id,
        v.po_id,
        r.rule_id,
        r.grace_days,
        r.flat_fee,
        r.percent_per_day,
        r.cap_percent,
        r.currency
    from po_values as v
    inner join {{ ref('stg_finance__chargeback_rules') }} as r
        on v.tenant_id = r.tenant_id
        and v.customer = r.customer
        and r.valid_from_date <= v.as_of_date
        and coalesce(r.valid_to_date, v.as_of_date) >= v.as_of_date
    qualify row_number() over (
        partition by v.tenant_id, v.po_id order by r.valid_from_date desc, r.rule_id
    ) = 1
),

delay_costs as (
    select
        v.*,
        greatest(v.lateness_days, 0) as expected_delay_days,
        r.rule_id as chargeback_rule_id,
        r.grace_days,
        case
            when v.lateness_days is null or v.order_value is null or r.rule_id is null then null
            when r.currency is distinct from v.currency then null
            when v.lateness_days <= r.grace_days then 0.0
            else least(
                r.flat_fee + r.percent_per_day / 100.0 * v.order_value
                    * (v.lateness_days - r.grace_days),
                coalesce(r.cap_percent / 100.0 * v.order_value, 'infinity'::double)
            )
        end as cost_of_doing_nothing
    from po_values as v
    left join chargeback_rules as r on v.tenant_id = r.tenant_id and v.po_id = r.po_id
),

expedite_candidates as (
    -- options of the PO's lane valid on the as-of day, in the PO's currency, before departure,
    -- saving at least a whole day on the expected voyage (DEPARTED to ARRIVED)
    select
        c.tenant_id,
        c.po_id,
        x.option_id,
        x.expedite_mode,
        greatest(
            x.minimum_charge,
            case when x.cost_basis = 'per_unit' then x.rate * c.quantity else x.rate end
        ) as expedite_cost,
        cast(floor(
            date_diff('second', c.exp_departed, c.exp_arrived) / 86400.0 - x.transit_days
        ) as integer) as saves_days,
        greatest(c.lateness_days, 0) as lateness_days,
        coalesce(c.grace_days, 0) as grace_days
    from delay_costs as c
    inner join {{ ref('stg_finance__expedite_options') }} as x
        on c.tenant_id = x.tenant_id
        and c.route_origin = x.origin_port
        and c.route_destination = x.destination_port
        and c.currency = x.currency
        and x.valid_from_date <= c.as_of_date
        and coalesce(x.valid_to_date, c.as_of_date) >= c.as_of_date
    where not c.has_departed
        and date_diff('second', c.exp_departed, c.exp_arrived) / 86400.0 - x.transit_days >= 1
),

cheapest_expedite as (
    -- the cheapest option that brings the PO within its window (lateness left <= grace days),
    -- else the cheapest option at all
    select
        *,
        lateness_days - saves_days <= grace_days as meets_window
    from expedite_candidates
    qualify row_number() over (
        partition by tenant_id, po_id
        order by lateness_days - saves_days <= grace_days desc, expedite_cost, saves_days desc,
            option_id
    ) = 1
),

signals as (
    select
        o.tenant_id,
        o.po_id,
        o.shipment_id,
        o.po_status,
        o.current_stage,
        o.as_of_at,
        storm.storm_evidence,
        congestion.congestion_evidence,
        late_eta.eta_evidence,
        late_eta.eta_delay_hours,
        late_production.production_evidence,
        sensor_excursion.sensor_excursion_count,
        sensor_excursion.sensor_excursion_evidence,
        delay_costs.requested_delivery_date,
        delay_costs.exp_delivered as expected_delivery_at,
        delay_costs.expected_delay_days,
        delay_costs.order_value,
        delay_costs.currency,
        delay_costs.chargeback_rule_id,
        delay_costs.cost_of_doing_nothing,
        cheapest_expedite.option_id as expedite_option_id,
        cheapest_expedite.expedite_mode as cheapest_expedite_mode,
        cheapest_expedite.expedite_cost as cheapest_expedite_cost,
        cheapest_expedite.saves_days as expedite_saves_days,
        cheapest_expedite.meets_window as expedite_meets_window,
        list_filter(
            [
                case when storm.po_id is not null then 'storm_warning' end,
                case when congestion.po_id is not null then 'port_congestion' end,
                case when late_eta.po_id is not null then 'vessel_eta_late' end,
                case when late_production.po_id is not null then 'production_late' end,
                case when sensor_excursion.po_id is not null then 'sensor_excursion' end
            ],
            lambda x: x is not null
        ) as risk_signals,
        coalesce(storm.storm_evidence like '%signal No. 8%'
            or storm.storm_evidence like '%signal No. 9%'
            or storm.storm_evidence like '%signal No. 10%'
            or storm.storm_evidence like '%Black rainstorm%', false) as has_severe_storm
    from open_pos as o
    left join storm on o.tenant_id = storm.tenant_id and o.po_id = storm.po_id
    left join congestion on o.tenant_id = congestion.tenant_id and o.po_id = congestion.po_id
    left join late_eta on o.tenant_id = late_eta.tenant_id and o.po_id = late_eta.po_id
    left join late_production
        on o.tenant_id = late_production.tenant_id and o.po_id = late_production.po_id
    left join sensor_excursion
        on o.tenant_id = sensor_excursion.tenant_id and o.po_id = sensor_excursion.po_id
    left join delay_costs on o.tenant_id = delay_costs.tenant_id and o.po_id = delay_costs.po_id
    left join cheapest_expedite
        on o.tenant_id = cheapest_expedite.tenant_id and o.po_id = cheapest_expedite.po_id
)

select
    tenant_id,
    po_id,
    shipment_id,
    po_status,
    current_stage,
    {{ utc_timestamptz('as_of_at') }} as as_of_at,
    risk_signals,
    cast(len(risk_signals) as integer) as signal_count,
    case
        when len(risk_signals) >= 3 or has_severe_storm then 'high'
        when len(risk_signals) = 2 or list_contains(risk_signals, 'storm_warning') then 'medium'
        when len(risk_signals) = 1 then 'low'
        else 'none'
    end as risk_level,
    storm_evidence,
    congestion_evidence,
    eta_evidence,
    round(eta_delay_hours, 2) as eta_delay_hours,
    production_evidence,
    cast(coalesce(sensor_excursion_count, 0) as integer) as sensor_excursion_count,
    sensor_excursion_evidence,
    case
        when len(risk_signals) = 0 then 'No delay risk found.'
        else array_to_string(
            list_filter(
                [
                    storm_evidence,
                    congestion_evidence,
                    eta_evidence,
                    upper(left(production_evidence, 1)) || substr(production_evidence, 2),
                    'Sensor excursion: ' || sensor_excursion_evidence
                ],
                lambda x: x is not null
            ),
            '; '
        ) || '.'
    end as risk_reason,
    requested_delivery_date,
    {{ utc_timestamptz('expected_delivery_at') }} as expected_delivery_at,
    cast(expected_delay_days as integer) as expected_delay_days,
    order_value,
    currency,
    chargeback_rule_id,
    round(cost_of_doing_nothing, 2) as cost_of_doing_nothing,
    expedite_option_id,
    cheapest_expedite_mode,
    round(cheapest_expedite_cost, 2) as cheapest_expedite_cost,
    expedite_saves_days,
    expedite_meets_window,
    case
        when cost_of_doing_nothing > 0
            and expedite_meets_window
            and round(cheapest_expedite_cost, 2) < round(cost_of_doing_nothing, 2)
            then 'expedite'
        else 'wait'
    end as recommended_action
from signals
