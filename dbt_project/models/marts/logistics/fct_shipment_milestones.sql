-- One row per tenant × shipment × milestone × classifier (000 §2.4): the latest report wins
-- (latest report time, then the most recently landed), so re-sent events collapse and
-- corrections replace the first report. Events are placed by when they happened, not by when
-- they arrived: event_sequence orders a shipment's milestones of one classifier by event time,
-- and late or out-of-order reports are flagged rather than reordered.
with reports as (
    select * from {{ ref('int_shipment_milestones_unioned') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by tenant_id, shipment_id, milestone, classifier
            order by reported_at desc, ingested_at desc, source_file desc, source_row desc
        ) as report_rank,
        count(*) over per_milestone as report_count,
        min(reported_at) over per_milestone as first_reported_at
    from reports
    window per_milestone as (partition by tenant_id, shipment_id, milestone, classifier)
),

latest as (
    select * from ranked where report_rank = 1
),

with_order as (
    select
        latest.*,
        case milestone
            when 'GATE_IN' then 1
            when 'LOADED_ON_VESSEL' then 2
            when 'DEPARTED' then 3
            when 'ARRIVED' then 4
            when 'DISCHARGED' then 5
            when 'GATE_OUT' then 6
            when 'OUT_FOR_DELIVERY' then 7
            when 'DELIVERED' then 8
        end as milestone_sequence
    from latest
),

out_of_order as (
    -- reported after an event of the same shipment and classifier that happened later
    select distinct this.tenant_id, this.shipment_id, this.milestone, this.classifier
    from with_order as this
    inner join with_order as other
        on this.tenant_id = other.tenant_id
        and this.shipment_id = other.shipment_id
        and this.classifier = other.classifier
        and other.event_at > this.event_at
        and other.first_reported_at < this.first_reported_at
),

final as (
    select
        m.tenant_id,
        m.shipment_id,
        m.po_id,
        m.milestone,
        cast(m.milestone_sequence as integer) as milestone_sequence,
        m.classifier,
        m.event_at,
        cast(row_number() over (
            partition by m.tenant_id, m.shipment_id, m.classifier
            order by m.event_at, m.milestone_sequence
        ) as integer) as event_sequence,
        m.reported_at,
        m.first_reported_at,
        cast(m.report_count as integer) as report_count,
        round(epoch(m.first_reported_at - m.event_at) / 3600.0, 2) as report_lag_hours,
        m.first_reported_at - m.event_at > interval 24 hours as is_late_report,
        o.shipment_id is not null as is_reported_out_of_order,
        m.location,
        m.carrier,
        m.vessel_name,
        m.vessel_name_key,
        m.vessel_imo,
        m.voyage,
        m.container_number,
        m.delivered_quantity,
        m.source,
        m.source_event_id
    from with_order as m
    left join out_of_order as o
        on m.tenant_id = o.tenant_id
        and m.shipment_id = o.shipment_id
        and m.milestone = o.milestone
        and m.classifier = o.classifier
)

select * replace (
    {{ utc_timestamptz('event_at') }} as event_at,
    {{ utc_timestamptz('reported_at') }} as reported_at,
    {{ utc_timestamptz('first_reported_at') }} as first_reported_at
)
from final
