-- Line items of the winning (latest) revision of each purchase order: a child row belongs to the
-- parent record it landed with (`_parent_record_hash`), so lines of superseded revisions drop out.
with source as (
    select * from {{ source('erp', 'purchase_order_lines') }}
),

purchase_orders as (
    select * from {{ ref('stg_erp__purchase_orders') }}
),

lines_of_latest_revision as (
    select source.*
    from source
    inner join purchase_orders
        on source.tenant_id = purchase_orders.tenant_id
        and source._parent_record_hash = purchase_orders.record_hash
    -- a line id repeated inside one record: keep its first occurrence
    qualify row_number() over (
        partition by source.tenant_id, source."poId", source."lineItemId"
        order by source._child_index
    ) = 1
),

renamed as (
    select
        tenant_id,
        "poId" as po_id,
        revision,
        "lineItemId" as line_item_id,
        _child_index + 1 as line_number,
        sku,
        color,
        size,
        "lineQuantity" as line_quantity,
        _parent_record_hash as purchase_order_record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from lines_of_latest_revision
)

select * from renamed
