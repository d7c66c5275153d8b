-- One row per shipped item of an advance ship notice (X12 856 HL item level / EDIFACT DESADV
-- LIN; seed 001 "track shipments and delivery confirmations"), with its shipment's header. Ship
-- notices are not deduplicated here: a re-sent or corrected ASN is a second report of the same
-- shipment, and int_shipment_milestones_unioned / fct_shipment_milestones keep the latest one.
with source as (
    select * from {{ source('edi', 'ship_notices') }}
),

renamed as (
    select
        tenant_id,
        trim(shipment_id) as shipment_id,
        nullif(trim(po_number), '') as po_id,
        partner_id,
        edi_standard,
        message_type,
        interchange_control_number,
        group_control_number,
        transaction_control_number,
        -- one report = one landed transaction (856 ST/SE, DESADV UNH/UNT)
        {{ edi_transaction_key() }} as transaction_key,
        interchange_date,
        asn_date,
        ship_date,
        estimated_delivery_date,
        upper(trim(carrier_code)) as carrier,
        transport_method,
        trim(bill_of_lading_number) as bill_of_lading_number,
        trim(tracking_number) as tracking_number,
        upper(trim(container_number)) as container_number,
        package_id,
        line_sequence,
        line_number,
        buyer_item_number,
        vendor_part_number,
        gtin,
        cast(shipped_quantity as double) as shipped_quantity,
        unit,
        _record_hash as record_hash,
        _source_file as source_file,
        _source_row as source_row,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from source
)

select * from renamed
