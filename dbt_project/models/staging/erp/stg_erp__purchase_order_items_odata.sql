-- Items of the winning (latest) change of each SAP purchase order, in the canonical columns of
-- stg_erp__purchase_order_lines. The drop route's line id `<poId>-NN` is SAP item NN x the item
-- interval (var `sap_po_item_interval`, SAP's default 10): item 20 of PO X is line `X-02`, also
-- when an older gateway pads it ("00020"). SAP's item number itself is kept verbatim in
-- purchase_order_item (downstream: item_number), so the canonical line id stays the same by
-- both routes and by every gateway.
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
        try_cast(source."PurchaseOrderItem" as integer) as item_number_value
    from source
    inner join purchase_orders
        on source.tenant_id = purchase_orders.tenant_id
        and source._parent_record_hash = purchase_orders.record_hash
    -- an item number repeated inside one record ("10" and "00010" are the same item): keep
    -- its first occurrence
    qualify row_number() over (
        partition by
            source.tenant_id,
            source."PurchaseOrder",
            coalesce(
                cast(try_cast(source."PurchaseOrderItem" as integer) as varchar),
                source."PurchaseOrderItem"
            )
        order by source._child_index
    ) = 1
),

renamed as (
    select
        tenant_id,
        "PurchaseOrder" as po_id,
        revision,
        case
            when item_number_value is not null
                and item_number_value % {{ var('sap_po_item_interval', 10) }} = 0
                -- printf, not lpad: lpad(…, 2) would cut item 1000 (line 100) to `-10`
                then "PurchaseOrder" || '-'
                || printf('%02d', item_number_value // {{ var('sap_po_item_interval', 10) }})
            else "PurchaseOrder" || '-' || "PurchaseOrderItem"
        end as line_item_id,
        row_number() over (
            partition by tenant_id, "PurchaseOrder" order by item_number_value, "PurchaseOrderItem"
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
