-- Every milestone report of both logistics feeds in one canonical shape (000 §2.4), one row per
-- report. DCSA codes map to milestones: GTIN → GATE_IN, LOAD → LOADED_ON_VESSEL, DEPA →
-- DEPARTED, ARRI → ARRIVED, DISC → DISCHARGED, GTOT → GATE_OUT; empty-container moves
-- (emptyIndicatorCode EMPTY) and other codes are no milestone and are left out, as are events
-- without a booking reference (they cannot be placed on a shipment). The shipment is the
-- carrier booking; a report without PO or carrier takes them from another report of the booking.
-- EDI ship notices (X12 856 / EDIFACT DESADV, stg_edi__ship_notices; seed 001 "track shipments
-- and delivery confirmations") are reported by the supplier, one report per transaction: its
-- ship date (DTM*011 / DTM+11; the ASN date BSN03 / DTM+137 when it has none) is DEPARTED ACT
-- and its estimated delivery date (DTM*017 / DTM+17|132) DELIVERED EST, reported at the ASN
-- date. An ASN carries no carrier booking: its shipment is the ASN's shipment id (BSN02 /
-- BGM 1004); an ASN of several POs names the lowest PO number.
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

edi_reports as (
    -- one ship notice transaction, its items collapsed
    select
        tenant_id,
        shipment_id,
        transaction_key,
        min(po_id) as po_id,
        coalesce(max(ship_date), max(asn_date)) as ship_date,
        max(estimated_delivery_date) as estimated_delivery_date,
        cast(coalesce(max(asn_date), max(interchange_date)) as timestamp) as reported_at,
        max(carrier) as carrier,
        max(container_number) as container_number,
        max(partner_id) as partner_id,
        max(interchange_control_number) as interchange_control_number,
        max(transaction_control_number) as transaction_control_number,
        max(ingested_at) as ingested_at,
        max(source_file) as source_file,
        min(source_row) as source_row
    from {{ ref('stg_edi__ship_notices') }}
    group by tenant_id, shipment_id, transaction_key
),

edi as (
    {%- for milestone, classifier, date_column in [
        ('DEPARTED', 'ACT', 'ship_date'),
        ('DELIVERED', 'EST', 'estimated_delivery_date'),
    ] %}
    select
        tenant_id,
        shipment_id,
        po_id,
        '{{ milestone }}' as milestone,
        '{{ classifier }}' as classifier,
        cast({{ date_column }} as timestamp) as event_at,
        reported_at,
        cast(null as varchar) as location,
        carrier,
        cast(null as varchar) as vessel_name,
        cast(null as varchar) as vessel_name_key,
        cast(null as varchar) as vessel_imo,
        cast(null as varchar) as voyage,
        container_number,
        cast(null as double) as delivered_quantity,
        'edi_ship_notices' as source,
        concat_ws(':', partner_id, interchange_control_number, transaction_control_number)
            as source_event_id,
        ingested_at,
        source_file,
        source_row
    from edi_reports
    where {{ date_column }} is not null
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

unioned as (
    select * from canonical
    union all
    select * from dcsa where milestone is not null
    union all
    select * from edi
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
