-- One row per tenant and SAP purchase order (OData route), in the canonical columns of
-- stg_erp__purchase_orders: the latest LastChangeDateTime wins, then the most recently landed
-- record. Header values SAP keeps per item (plant, item text, unit, net price, delivery date)
-- come from the winning record's items; the field mapping is documented in _erp__models.yml.
with source as (
    select * from {{ source('erp', 'purchase_orders_odata') }}
),

items as (
    select * from {{ source('erp', 'purchase_order_items_odata') }}
),

changes as (
    select
        tenant_id,
        "PurchaseOrder" as po_id,
        count(distinct "LastChangeDateTime") as revision_count,
        min("LastChangeDateTime") as first_seen_at
    from source
    group by all
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "PurchaseOrder"
        order by "LastChangeDateTime" desc, {{ landing_order_desc() }}
    ) = 1
),

items_of_latest as (
    select
        items.*,
        coalesce(items."PurchasingDocumentDeletionCode" = 'L', false) as is_deleted,
        row_number() over (
            partition by items.tenant_id, items._parent_record_hash
            order by try_cast(items."PurchaseOrderItem" as integer), items."PurchaseOrderItem"
        ) as item_position
    from items
    inner join latest
        on items.tenant_id = latest.tenant_id
        and items._parent_record_hash = latest._record_hash
),

items_per_order as (
    select
        tenant_id,
        _parent_record_hash,
        -- the first item (lowest item number) speaks for the order's header values
        max("Plant") filter (where item_position = 1) as factory,
        max("PurchaseOrderItemText") filter (where item_position = 1) as product,
        max("PurchaseOrderQuantityUnit") filter (where item_position = 1) as sap_unit,
        max("NetPriceAmount" / coalesce(nullif("NetPriceQuantity", 0), 1))
            filter (where item_position = 1) as unit_price,
        -- items deleted in SAP (deletion code L) are not ordered any more; 0, not null, when
        -- every item is deleted
        coalesce(sum("OrderQuantity") filter (where not is_deleted), 0) as quantity,
        max("ScheduleLineDeliveryDate") as requested_delivery_date,
        bool_and(is_deleted) as all_items_deleted,
        bool_and(coalesce("IsCompletelyDelivered", false)) filter (
            where not is_deleted
        ) as all_open_items_delivered
    from items_of_latest
    group by all
),

renamed as (
    select
        latest.tenant_id,
        latest."PurchaseOrder" as po_id,
        -- SAP has no revision number: the number of distinct changes landed (the winner is the
        -- latest, so its ordinal is the count)
        changes.revision_count as revision,
        case
            when latest."PurchasingDocumentDeletionCode" = 'L' or items_per_order.all_items_deleted
                then 'cancelled'
            when items_per_order.all_open_items_delivered then 'closed'
            else 'open'
        end as po_status,
        latest."LastChangeDateTime" as updated_at,
        {{ normalized_text('latest."YY1_Customer_PDH"') }} as customer,
        latest."Supplier" as supplier,
        items_per_order.factory,
        {{ normalized_text('items_per_order.product') }} as product,
        items_per_order.quantity,
        -- SAP unit of measure → the drop route's unit vocabulary (PC/ST: pieces)
        case
            when items_per_order.sap_unit in ('PC', 'ST') then 'pcs'
            else items_per_order.sap_unit
        end as unit,
        items_per_order.unit_price,
        latest."DocumentCurrency" as currency,
        latest."YY1_ShipWindowStart_PDH" as ship_window_start_date,
        latest."YY1_ShipWindowEnd_PDH" as ship_window_end_date,
        items_per_order.requested_delivery_date,
        latest."YY1_RouteOrigin_PDH" as route_origin,
        case
            when latest."YY1_RoutePorts_PDH" is not null
                then to_json(
                    list_transform(string_split(latest."YY1_RoutePorts_PDH", ','), lambda p: trim(p))
                )::varchar
        end as route_ports,
        latest."YY1_RouteDestination_PDH" as route_destination,
        changes.revision_count,
        changes.first_seen_at,
        latest._record_hash as record_hash,
        latest._source_file as source_file,
        latest._batch_id as landing_batch_id,
        latest._ingested_at as ingested_at,
        latest."CompanyCode" as company_code,
        latest."PurchasingOrganization" as purchasing_organization,
        latest."PurchaseOrderType" as purchase_order_type,
        latest."CreationDate" as created_date
    from latest
    inner join changes
        on latest.tenant_id = changes.tenant_id
        and latest."PurchaseOrder" = changes.po_id
    left join items_per_order
        on latest.tenant_id = items_per_order.tenant_id
        and latest._record_hash = items_per_order._parent_record_hash
)

select * from renamed
