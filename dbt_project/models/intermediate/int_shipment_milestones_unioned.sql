-- Every milestone report of both logistics feeds in one canonical shape (000 §2.4), one row per
-- report. DCSA codes map to milestones: GTIN → GATE_IN, LOAD → LOADED_ON_VESSEL, DEPA →
-- DEPARTED, ARRI → ARRIVED, DISC → DISCHARGED, GTOT → GATE_OUT; empty-container moves
-- (emptyIndicatorCode EMPTY) and other codes are no milestone and are left out, as are events
-- without a booking reference (they cannot be placed on a shipment). The shipment is the
-- carrier booking; a report without PO or carrier takes them from another report of the booking.
with canonical as (
    select
        tenant_id,
        booking_reference as shipment_id,
        po_id,
        milestone,
        classifier,
        event_at,
        reported_at,
        location,
        carrier,
        vessel_name,
        vessel_name_key,
        cast(null as varchar) as vessel_imo,
        voyage,
        container_number,
        delivered_quantity,
        'shipment_milestones' as source,
        event_id as source_event_id,
        ingested_at,
        source_file,
        source_row
    from {{ ref('stg_logistics__shipment_milestones') }}
),

dcsa as (
    select
        tenant_id,
        booking_reference as shipment_id,
        po_id,
        case event_type_code
            when 'GTIN' then 'GATE_IN'
            when 'LOAD' then 'LOADED_ON_VESSEL'
            when 'DEPA' then 'DEPARTED'
            when 'ARRI' then 'ARRIVED'
            when 'DISC' then 'DISCHARGED'
            when 'GTOT' then 'GATE_OUT'
        end as milestone,
        classifier,
        event_at,
        reported_at,
        location,
        carrier,
        vessel_name,
        vessel_name_key,
        vessel_imo,
        voyage,
        container_number,
        cast(null as double) as delivered_quantity,
        'dcsa_events' as source,
        event_id as source_event_id,
        ingested_at,
        source_file,
        source_row
    from {{ ref('stg_logistics__dcsa_events') }}
    where coalesce(empty_indicator_code, 'LADEN') = 'LADEN'
),

unioned as (
    select * from canonical
    union all
    select * from dcsa where milestone is not null
),

placed as (
    select
        tenant_id,
        shipment_id,
        coalesce(po_id, max(po_id) over per_shipment) as po_id,
        milestone,
        classifier,
        event_at,
        reported_at,
        location,
        coalesce(carrier, max(carrier) over per_shipment) as carrier,
        vessel_name,
        vessel_name_key,
        vessel_imo,
        voyage,
        container_number,
        delivered_quantity,
        source,
        source_event_id,
        ingested_at,
        source_file,
        source_row
    from unioned
    where shipment_id is not null
    window per_shipment as (partition by tenant_id, shipment_id)
)

select * from placed
