-- One row per tenant and purchase order: the latest revision (latest updatedAt, then highest
-- revision, then the most recently landed record) with the number of revisions seen.
with source as (
    select * from {{ source('erp', 'purchase_orders') }}
),

revisions as (
    select
        tenant_id,
        "poId" as po_id,
        count(distinct revision) as revision_count,
        min("updatedAt") as first_seen_at
    from source
    group by all
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "poId"
        order by "updatedAt" desc, revision desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        latest.tenant_id,
        latest."poId" as po_id,
        latest.revision,
        latest."poStatus" as po_status,
        latest."updatedAt" as updated_at,
        {{ normalized_text('latest.customer') }} as customer,
        {{ normalized_text('latest.supplier') }} as supplier,
        {{ normalized_text('latest.factory') }} as factory,
        {{ normalized_text('latest.product') }} as product,
        latest.quantity,
        latest.unit,
        latest.price as unit_price,
        latest.currency,
        latest."shipWindowStart" as ship_window_start_date,
        latest."shipWindowEnd" as ship_window_end_date,
        latest."requestedDeliveryDate" as requested_delivery_date,
        latest."routeTemplate_origin" as route_origin,
        cast(latest."routeTemplate_ports" as varchar) as route_ports,
        latest."routeTemplate_destination" as route_destination,
        revisions.revision_count,
        revisions.first_seen_at,
        latest._record_hash as record_hash,
        latest._source_file as source_file,
        latest._batch_id as landing_batch_id,
        latest._ingested_at as ingested_at
    from latest
    inner join revisions
        on latest.tenant_id = revisions.tenant_id
        and latest."poId" = revisions.po_id
)

select * from renamed
