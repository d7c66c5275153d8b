-- One row per tenant and purchase order: the supplier's latest PO acknowledgment (X12 855 /
-- EDIFACT ORDRSP, seed 001 "EDI transactions for automated procurement"). The raw table holds
-- one record per acknowledged line (an X12 ACK, an EDIFACT LIN) with the header repeated, or
-- one header record when the whole PO is acknowledged. The latest transaction of a PO wins:
-- latest acknowledgment date (BAK09 / DTM+137, else the interchange date), then the most
-- recently landed. Its header code becomes a status word with the code lists' meaning:
--   X12 BAK02 (587 acknowledgment type)   accepted: AD, AK, AP, AT; accepted_with_changes: AC, AE;
--                                          rejected: RD, RF, RJ, RN, RO, RV; other codes: null
--   EDIFACT BGM 1225 (message function)   accepted: 29, 44; accepted_with_changes: 4, 28, 30, 34,
--                                          45; rejected: 27, 48; other codes: null
-- Its lines: stg_edi__po_acknowledgment_lines.
with source as (
    select * from {{ source('edi', 'po_acknowledgments') }}
),

transactions as (
    -- one transaction = one landed file's ST/SE (UNH/UNT) of one interchange
    select
        *,
        {{ edi_transaction_key() }} as transaction_key,
        coalesce(ack_date, interchange_date) as acknowledged_date
    from source
    where po_number is not null
),

transaction_headers as (
    {{ edi_transaction_headers('transactions') }}
),

acknowledgment_counts as (
    select tenant_id, po_number, count(*) as acknowledgment_count
    from transaction_headers
    group by all
),

latest as (
    select *
    from transaction_headers
    qualify row_number() over (
        partition by tenant_id, po_number
        order by acknowledged_date desc nulls last, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        latest.tenant_id,
        latest.po_number as po_id,
        case
            when latest.edi_standard = 'X12' then case
                when latest.ack_type in ('AD', 'AK', 'AP', 'AT') then 'accepted'
                when latest.ack_type in ('AC', 'AE') then 'accepted_with_changes'
                when latest.ack_type in ('RD', 'RF', 'RJ', 'RN', 'RO', 'RV') then 'rejected'
            end
            else case
                when latest.ack_type in ('29', '44') then 'accepted'
                when latest.ack_type in ('4', '28', '30', '34', '45') then 'accepted_with_changes'
                when latest.ack_type in ('27', '48') then 'rejected'
            end
        end as ack_status,
        latest.ack_type as ack_code,
        cast(latest.acknowledged_date as timestamp) as acknowledged_at,
        latest.seller_order_number,
        acknowledgment_counts.acknowledgment_count,
        latest.transaction_key,
        latest.edi_standard,
        latest.message_type,
        latest.partner_id,
        latest.interchange_control_number,
        latest.transaction_control_number,
        latest.po_purpose_code,
        latest.po_date,
        latest._record_hash as record_hash,
        latest._source_file as source_file,
        latest._batch_id as landing_batch_id,
        latest._ingested_at as ingested_at
    from latest
    inner join acknowledgment_counts
        on latest.tenant_id = acknowledgment_counts.tenant_id
        and latest.po_number = acknowledgment_counts.po_number
)

select * from renamed
