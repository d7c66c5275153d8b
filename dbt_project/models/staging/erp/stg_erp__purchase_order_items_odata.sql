-- Items of the winning (latest) change of each SAP purchase order, in the canonical columns of
-- stg_erp__purchase_order_lines. The drop route's line id `<poId>-NN` is SAP item NN x the item
-- interval (var `sap_po_item_interval`, SAP's default 10): item 20 of PO X is line `X-02`.
with source as (
    select * from {{ source('erp', 'purchase_order_items_odata') }}
),

purchase_orders as (
    select * from {{ ref('stg_erp__purchase_orders_odata') }}
),

items_of_latest_change as (
    select
        source.*,
        purchase_orders.revision,
        try_cast(source."PurchaseOrderItem" as integer) as item_number
    from source
    inner join purchase_orders
        on source.tenant_id = purchase_orders.tenant_id
        and source._parent_record_hash = purchase_orders.record_hash
    -- an item number repeated inside one record: keep its first occurrence
    qualify row_number() over (
        partition by source.tenant_id, source."PurchaseOrder", source."PurchaseOrderItem"
        order by source._child_index
    ) = 1
),

renamed as (
    select
        tenant_id,
        "PurchaseOrder" as po_id,
        revision,
        case
            when item_number is not null
                and item_number % {{ var('sap_po_item_interval', 10) }} = 0
                then "PurchaseOrder" || '-'
                || lpad(cast(item_number // {{ var('sap_po_item_interval', 10) }} as varchar), 2, '0')
            else "PurchaseOrder" || '-' || "PurchaseOrderItem"
        end as line_item_id,
        row_number() over (
            partition by tenant_id, "PurchaseOrder" order by item_number, "PurchaseOrderItem"
        ) as line_number,
        "Material" as sku,
        "YY1_Color_PDI" as color,
        "YY1_Size_PDI" as size,
        "OrderQuantity" as line_quantity,
        _parent_record_hash as purchase_order_record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at,
        "PurchaseOrderItem" as purchase_order_item,
        "Plant" as plant,
        coalesce("PurchasingDocumentDeletionCode" = 'L', false) as is_deleted,
        "IsCompletelyDelivered" as is_completely_delivered,
        "NetPriceAmount" as net_price_amount,
        "ScheduleLineDeliveryDate" as delivery_date
    from items_of_latest_change
)

select * from renamed
