-- One row per tenant and EDI purchase order (X12 850 / EDIFACT ORDERS, seed 001 "EDI
-- transactions for automated procurement"), in the canonical columns of stg_erp__purchase_orders
-- so that int_purchase_orders_unioned can take it as route `edi`. The raw table holds one record
-- per PO line with the order's header repeated; a re-sent PO (change, replace, cancellation) is a
-- new transaction and lands again. The latest transaction of a PO wins: latest interchange date
-- (ISA09 / UNB S004, else the PO date), then the most recently landed. Its lines make the header:
--   quantity                 sum of the line quantities (PO102 / QTY+21)
--   unit                     the lines' unit when they all share one (EA / PCE / C62 → pcs)
--   unit_price, product      the first line's (as the OData route takes its first item's)
--   requested_delivery_date  the latest line date (DTM*002 / DTM+2)
--   customer / supplier      the buyer (N1*BY / NAD+BY) / the seller (N1*SE|SU|VN / NAD+SU|SE)
--   po_status                cancelled for a cancellation or deletion (BEG01 01|03 / BGM 1225
--                            1|3), else open (EDI carries no closing)
-- An 850 has no ship window, factory or route template: those columns are typed nulls.
with source as (
    select * from {{ source('edi', 'purchase_orders') }}
),

transactions as (
    -- one transaction = one landed file's ST/SE (UNH/UNT) of one interchange
    select
        *,
        {{ edi_transaction_key() }} as transaction_key
    from source
    where po_number is not null
),

transaction_headers as (
    {{ edi_transaction_headers('transactions') }}
),

revisions as (
    select
        tenant_id,
        po_number as po_id,
        count(*) as revision_count,
        cast(min(coalesce(interchange_date, po_date)) as timestamp) as first_seen_at
    from transaction_headers
    group by all
),

latest as (
    select *
    from transaction_headers
    qualify row_number() over (
        partition by tenant_id, po_number
        order by coalesce(interchange_date, po_date) desc nulls last, {{ landing_order_desc() }}
    ) = 1
),

lines_of_latest as (
    select transactions.*
    from transactions
    inner join latest
        on transactions.tenant_id = latest.tenant_id
        and transactions.transaction_key = latest.transaction_key
    -- a line number repeated inside one transaction: keep its first occurrence (as the lines do)
    qualify row_number() over (
        partition by transactions.tenant_id, transactions.transaction_key,
            coalesce(transactions.line_number, cast(transactions.line_sequence as varchar))
        order by transactions.line_sequence, transactions._source_row
    ) = 1
),

lines_per_order as (
    select
        tenant_id,
        transaction_key,
        count(*) as line_count,
        sum(quantity) as quantity,
        count(distinct unit) as unit_count,
        max(unit) as edi_unit,
        arg_min(unit_price, line_sequence) as unit_price,
        arg_min(coalesce(buyer_item_number, vendor_part_number, gtin), line_sequence) as product,
        max(requested_delivery_date) as requested_delivery_date
    from lines_of_latest
    group by all
),

renamed as (
    select
        latest.tenant_id,
        latest.po_number as po_id,
        -- EDI has no revision number: the number of transactions landed for the PO (the winner
        -- is the latest, so its ordinal is the count)
        revisions.revision_count as revision,
        case
            when latest.po_purpose_code in ('01', '03') and latest.edi_standard = 'X12'
                then 'cancelled'
            when latest.po_purpose_code in ('1', '3') and latest.edi_standard = 'EDIFACT'
                then 'cancelled'
            else 'open'
        end as po_status,
        cast(coalesce(latest.interchange_date, latest.po_date) as timestamp) as updated_at,
        latest.buyer_id as customer,
        latest.seller_id as supplier,
        cast(null as varchar) as factory,
        lines_per_order.product,
        cast(lines_per_order.quantity as double) as quantity,
        -- X12 355 / EDIFACT 6411 unit codes → the drop route's unit vocabulary (pieces: pcs);
        -- null when the lines are in different units
        case
            when lines_per_order.unit_count > 1 then null
            when lines_per_order.edi_unit in ('EA', 'PCE', 'PC', 'C62') then 'pcs'
            else lines_per_order.edi_unit
        end as unit,
        cast(lines_per_order.unit_price as double) as unit_price,
        latest.currency,
        cast(null as date) as ship_window_start_date,
        cast(null as date) as ship_window_end_date,
        lines_per_order.requested_delivery_date,
        cast(null as varchar) as route_origin,
        cast(null as varchar) as route_ports,
        cast(null as varchar) as route_destination,
        revisions.revision_count,
        revisions.first_seen_at,
        -- the winning transaction's first line record (its lines reference it)
        latest._record_hash as record_hash,
        latest._source_file as source_file,
        latest._batch_id as landing_batch_id,
        latest._ingested_at as ingested_at,
        latest.transaction_key,
        latest.edi_standard,
        latest.message_type,
        latest.partner_id,
        latest.interchange_control_number,
        latest.transaction_control_number,
        latest.po_purpose_code,
        latest.po_date,
        latest.buyer_id,
        latest.seller_id,
        latest.ship_to_id,
        latest.ship_to_name,
        lines_per_order.line_count
    from latest
    inner join revisions
        on latest.tenant_id = revisions.tenant_id
        and latest.po_number = revisions.po_id
    inner join lines_per_order
        on latest.tenant_id = lines_per_order.tenant_id
        and latest.transaction_key = lines_per_order.transaction_key
)

select * from renamed
