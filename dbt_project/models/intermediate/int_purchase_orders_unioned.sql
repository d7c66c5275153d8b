-- Purchase orders of all three routes in one canonical shape, one row per tenant and PO: drop
-- files (stg_erp__purchase_orders), the SAP OData pull (stg_erp__purchase_orders_odata) and
-- trading partners' EDI 850 / ORDERS (stg_edi__purchase_orders, seed 001).
-- Precedence when more than one route carries a PO: the later updated_at wins; at the same
-- updated_at the OData route wins over the drop route (the live system of record; a drop file is
-- an export of it), and both ERP routes win over EDI (ERP is the buyer's system of record; an EDI
-- message is a copy exchanged with a partner). An EDI PO's updated_at is its interchange date
-- (date only, so midnight UTC): an ERP change of the same day wins. EDI POs that no ERP route
-- carries still appear, as route `edi`.
with drop_route as (
    select * from {{ ref('stg_erp__purchase_orders') }}
),

odata_route as (
    select * from {{ ref('stg_erp__purchase_orders_odata') }}
),

edi_route as (
    select * from {{ ref('stg_edi__purchase_orders') }}
),

unioned as (
    {%- for route, relation in [('drop', 'drop_route'), ('odata', 'odata_route'), ('edi', 'edi_route')] %}
    select
        tenant_id,
        po_id,
        '{{ route }}' as source_route,
        revision,
        revision_count,
        po_status,
        customer,
        supplier,
        factory,
        product,
        quantity,
        unit,
        unit_price,
        currency,
        ship_window_start_date,
        ship_window_end_date,
        requested_delivery_date,
        route_origin,
        route_ports,
        route_destination,
        first_seen_at,
        updated_at,
        record_hash,
        source_file,
        ingested_at
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

winner as (
    select *
    from unioned
    qualify row_number() over (
        partition by tenant_id, po_id
        order by
            updated_at desc,
            case source_route when 'odata' then 1 when 'drop' then 2 else 3 end,
            ingested_at desc
    ) = 1
)

select * from winner
