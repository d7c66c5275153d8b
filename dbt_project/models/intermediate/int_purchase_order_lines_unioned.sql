-- Line items of the winning record of each PO in int_purchase_orders_unioned, from whichever
-- route won (drop: stg_erp__purchase_order_lines, OData: stg_erp__purchase_order_items_odata,
-- EDI: stg_edi__purchase_order_lines). line_item_id is canonical (`<po_id>-NN`) by every route;
-- the OData lines also keep SAP's item number verbatim (item_number, e.g. "10" or an older
-- gateway's "00010") and its deletion flag, the EDI lines the partner's line number as sent
-- (PO101 / LIN 1082) as item_number.
with purchase_orders as (
    select * from {{ ref('int_purchase_orders_unioned') }}
),

drop_lines as (
    select * from {{ ref('stg_erp__purchase_order_lines') }}
),

odata_items as (
    select * from {{ ref('stg_erp__purchase_order_items_odata') }}
),

edi_lines as (
    select * from {{ ref('stg_edi__purchase_order_lines') }}
),

unioned as (
    {%- for route, relation, item_number, is_deleted in [
        ('drop', 'drop_lines', 'cast(null as varchar)', 'false'),
        ('odata', 'odata_items', 'purchase_order_item', 'is_deleted'),
        ('edi', 'edi_lines', 'line_number_as_sent', 'false'),
    ] %}
    select
        tenant_id,
        po_id,
        '{{ route }}' as source_route,
        line_item_id,
        revision,
        line_number,
        sku,
        color,
        size,
        line_quantity,
        purchase_order_record_hash,
        {{ item_number }} as item_number,
        {{ is_deleted }} as is_deleted
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

lines_of_winner as (
    select unioned.*
    from unioned
    inner join purchase_orders
        on unioned.tenant_id = purchase_orders.tenant_id
        and unioned.source_route = purchase_orders.source_route
        and unioned.purchase_order_record_hash = purchase_orders.record_hash
)

select * from lines_of_winner
