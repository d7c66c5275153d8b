-- One row per landed DCSA Track & Trace event (a report; not deduplicated, see
-- fct_shipment_milestones), normalised from what carriers actually send: codes upper-cased,
-- the location taken from wherever the carrier put it, the booking (BKG), transport document
-- (TRD) and purchase order (PO) picked from the reference arrays by type, in any case.
with source as (
    select * from {{ source('logistics', 'dcsa_events') }}
),

parsed as (
    select
        *,
        json_transform(
            "documentReferences",
            '[{"documentReferenceType": "VARCHAR", "documentReferenceValue": "VARCHAR"}]'
        ) as document_references,
        json_transform(
            "references", '[{"referenceType": "VARCHAR", "referenceValue": "VARCHAR"}]'
        ) as other_references
    from source
),

renamed as (
    select
        tenant_id,
        "eventID" as event_id,
        upper(trim("eventType")) as event_type,
        upper(trim("eventClassifierCode")) as classifier,
        upper(trim("equipmentEventTypeCode")) as equipment_event_type_code,
        upper(trim("transportEventTypeCode")) as transport_event_type_code,
        coalesce(
            upper(trim("equipmentEventTypeCode")), upper(trim("transportEventTypeCode"))
        ) as event_type_code,
        "eventDateTime" as event_at,
        "eventCreatedDateTime" as reported_at,
        upper(trim("equipmentReference")) as container_number,
        upper(trim("emptyIndicatorCode")) as empty_indicator_code,
        upper(trim(coalesce(
            "transportCall_UNLocationCode",
            "transportCall_location_UNLocationCode",
            "eventLocation_UNLocationCode"
        ))) as location,
        trim(coalesce(
            "transportCall_exportVoyageNumber", "transportCall_carrierVoyageNumber"
        )) as voyage,
        upper(trim("transportCall_modeOfTransport")) as mode_of_transport,
        "vessel_vesselName" as vessel_name,
        {{ vessel_name_match_key('"vessel_vesselName"') }} as vessel_name_key,
        trim("vessel_vesselIMONumber") as vessel_imo,
        upper(trim("vessel_vesselOperatorCarrierCode")) as carrier,
        list_filter(
            document_references, lambda r: upper(trim(r.documentReferenceType)) = 'BKG'
        )[1].documentReferenceValue as booking_reference,
        list_filter(
            document_references, lambda r: upper(trim(r.documentReferenceType)) = 'TRD'
        )[1].documentReferenceValue as transport_document_reference,
        list_filter(
            other_references, lambda r: upper(trim(r.referenceType)) = 'PO'
        )[1].referenceValue as po_id,
        _record_hash as record_hash,
        _source_file as source_file,
        _source_row as source_row,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from parsed
)

select * from renamed
