-- Acknowledged lines (X12 855 PO1 + ACK / EDIFACT ORDRSP LIN) of each PO's latest
-- acknowledgment (stg_edi__po_acknowledgments), one row per tenant, PO and canonical line id
-- (macro edi_line_item_id, as the PO lines). An 855 line may carry several ACKs (80 accepted for
-- one date, 20 backordered for a later one): they make one line. Line status codes as words:
--   X12 ACK01 (668 line item status)       accepted: IA, AR, IE; rejected: IR, ID;
--                                           accepted_with_changes: IB, IC, IP, IQ, IS, DR, BP, SP
--   EDIFACT LIN 1229 (action code)         accepted: 4, 5; accepted_with_changes: 3, 6;
--                                           rejected: 2, 7
--   other codes: null.
-- acknowledged_quantity = the sum over the line's records that are not rejected (0 when all are
-- rejected; null when none gives a quantity); acknowledged_delivery_date = the latest scheduled
-- date they give (ACK05 / DTM+2|10|67|69). line_ack_status: the records' one status when they
-- agree, else accepted_with_changes (a line split by status or date).
with source as (
    select * from {{ source('edi', 'po_acknowledgments') }}
),

acknowledgments as (
    select * from {{ ref('stg_edi__po_acknowledgments') }}
),

records as (
    select
        source.tenant_id,
        acknowledgments.po_id,
        {{ edi_line_item_id(
            'acknowledgments.po_id', 'source.line_number', 'source.line_sequence'
        ) }} as line_item_id,
        source.line_number,
        source.line_sequence,
        case
            when source.edi_standard = 'X12' then case
                when source.line_status in ('IA', 'AR', 'IE') then 'accepted'
                when source.line_status in ('IB', 'IC', 'IP', 'IQ', 'IS', 'DR', 'BP', 'SP')
                    then 'accepted_with_changes'
                when source.line_status in ('IR', 'ID') then 'rejected'
            end
            else case
                when source.line_status in ('4', '5') then 'accepted'
                when source.line_status in ('3', '6') then 'accepted_with_changes'
                when source.line_status in ('2', '7') then 'rejected'
            end
        end as record_status,
        source.line_status,
        source.ordered_quantity,
        source.acknowledged_quantity,
        source.unit,
        source.unit_price,
        source.scheduled_date,
        source.buyer_item_number,
        source.vendor_part_number,
        source.gtin,
        acknowledgments.transaction_key
    from source
    inner join acknowledgments
        on source.tenant_id = acknowledgments.tenant_id
        and {{ edi_transaction_key('source') }} = acknowledgments.transaction_key
    -- the header record of a PO acknowledged without lines is no line
    where source.line_number is not null or source.ordered_quantity is not null
        or source.acknowledged_quantity is not null
),

lines as (
    select
        tenant_id,
        po_id,
        line_item_id,
        min(line_number) as line_number_as_sent,
        case
            when count(distinct coalesce(record_status, '?')) = 1 then any_value(record_status)
            else 'accepted_with_changes'
        end as line_ack_status,
        string_agg(line_status, ',' order by line_sequence) as line_status_codes,
        count(*) as ack_record_count,
        max(ordered_quantity) as ordered_quantity,
        case
            when bool_and(record_status = 'rejected') then 0.0
            else sum(acknowledged_quantity) filter (
                where record_status is distinct from 'rejected'
            )
        end as acknowledged_quantity,
        max(scheduled_date) filter (
            where record_status is distinct from 'rejected'
        ) as acknowledged_delivery_date,
        arg_min(unit, line_sequence) as unit,
        arg_min(unit_price, line_sequence) as unit_price,
        arg_min(buyer_item_number, line_sequence) as buyer_item_number,
        arg_min(vendor_part_number, line_sequence) as vendor_part_number,
        arg_min(gtin, line_sequence) as gtin,
        any_value(transaction_key) as transaction_key
    from records
    group by tenant_id, po_id, line_item_id
)

select * from lines
