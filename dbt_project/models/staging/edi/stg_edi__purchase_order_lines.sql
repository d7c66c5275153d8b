-- Line items (X12 850 PO1 / EDIFACT ORDERS LIN) of the winning (latest) transaction of each EDI
-- purchase order in stg_edi__purchase_orders, in the canonical columns of
-- stg_erp__purchase_order_lines. The canonical line id is `<po_id>-NN` from the partner's line
-- number (macro edi_line_item_id). The partner's line number itself is kept verbatim in
-- line_number_as_sent (downstream: item_number).
with source as (
    select * from {{ source('edi', 'purchase_orders') }}
),

purchase_orders as (
    select * from {{ ref('stg_edi__purchase_orders') }}
),

lines_of_latest_transaction as (
    select
        source.*,
        purchase_orders.po_id,
        purchase_orders.revision,
        purchase_orders.record_hash as purchase_order_record_hash
    from source
    inner join purchase_orders
        on source.tenant_id = purchase_orders.tenant_id
        and {{ edi_transaction_key('source') }} = purchase_orders.transaction_key
    -- a line number repeated inside one transaction: keep its first occurrence
    qualify row_number() over (
        partition by source.tenant_id, purchase_orders.transaction_key,
            coalesce(source.line_number, cast(source.line_sequence as varchar))
        order by source.line_sequence, source._source_row
    ) = 1
),

renamed as (
    select
        tenant_id,
        po_id,
        revision,
        {{ edi_line_item_id('po_id', 'line_number', 'line_sequence') }} as line_item_id,
        row_number() over (
            partition by tenant_id, po_id order by line_sequence, _source_row
        ) as line_number,
        buyer_item_number as sku,
        cast(null as varchar) as color,
        cast(null as varchar) as size,
        cast(quantity as double) as line_quantity,
        purchase_order_record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at,
        line_number as line_number_as_sent,
        buyer_item_number,
        vendor_part_number,
        gtin,
        unit,
        unit_price,
        requested_delivery_date
    from lines_of_latest_transaction
)

select * from renamed
