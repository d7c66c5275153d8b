-- One row per landed report of the canonical milestone feed (000 §2.4). Reports are not
-- deduplicated here: a re-sent or corrected event is a second report of the same milestone, and
-- fct_shipment_milestones keeps the latest one (and counts them).
with source as (
    select * from {{ source('logistics', 'shipment_milestones') }}
),

renamed as (
    select
        tenant_id,
        "eventId" as event_id,
        "eventType" as milestone,
        'ACT' as classifier,
        "eventTime" as event_at,
        "reportedAt" as reported_at,
        trim("bookingNumber") as booking_reference,
        nullif(trim("poId"), '') as po_id,
        upper(trim("containerNumber")) as container_number,
        trim("awbNumber") as awb_number,
        upper(trim(carrier)) as carrier,
        lane,
        mode as transport_mode,
        "vesselName" as vessel_name,
        {{ vessel_name_match_key('"vesselName"') }} as vessel_name_key,
        trim(voyage) as voyage,
        upper(trim(location)) as location,
        "deliveredQuantity" as delivered_quantity,
        _record_hash as record_hash,
        _source_file as source_file,
        _source_row as source_row,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from source
)

select * from renamed
