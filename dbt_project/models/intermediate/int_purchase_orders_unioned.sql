-- Purchase orders of both ERP routes in one canonical shape, one row per tenant and PO: drop
-- files (stg_erp__purchase_orders) and the SAP OData pull (stg_erp__purchase_orders_odata).
-- When both routes carry a PO, the later updated_at wins; at the same updated_at the OData
-- route wins (the live system of record; a drop file is an export of it).
with drop_route as (
    select * from {{ ref('stg_erp__purchase_orders') }}
),

odata_route as (
    select * from {{ ref('stg_erp__purchase_orders_odata') }}
),

unioned as (
    {%- for route, relation in [('drop', 'drop_route'), ('odata', 'odata_route')] %}
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
        order by updated_at desc, (source_route = 'odata') desc, ingested_at desc
    ) = 1
)

select * from winner
