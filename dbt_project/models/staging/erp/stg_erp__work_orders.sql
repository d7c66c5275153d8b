-- One row per tenant and ERP work order: its latest event by event timestamp (003 §3.2.1).
-- Status: a `work_order.cancelled` event cancels; otherwise the event's status, or — when the
-- latest event carries none — the latest status any event of the order carried, else 'released'.
with source as (
    select * from {{ source('erp', 'work_orders') }}
),

ordered as (
    select
        *,
        row_number() over latest_first as event_rank,
        count(*) over per_order as event_count,
        min("timestamp") over per_order as first_event_at,
        first_value(status ignore nulls) over (
            latest_first rows between unbounded preceding and unbounded following
        ) as latest_known_status
    from source
    window
        per_order as (partition by tenant_id, erp_work_order_id),
        latest_first as (
            partition by tenant_id, erp_work_order_id
            order by "timestamp" desc, {{ landing_order_desc() }}
        )
),

latest as (
    select * from ordered where event_rank = 1
),

renamed as (
    select
        tenant_id,
        erp_work_order_id,
        work_order_number,
        case
            when event_type = 'work_order.cancelled' then 'cancelled'
            else coalesce(latest_known_status, 'released')
        end as work_order_status,
        status as event_status,
        event_type as last_event_type,
        "timestamp" as last_event_at,
        first_event_at,
        event_count,
        product_id,
        {{ normalized_text('product_name') }} as product_name,
        {{ normalized_text('product_variant') }} as product_variant,
        quantity_ordered,
        unit_of_measure,
        priority,
        due_date as due_at,
        customer_order_id,
        production_line_preference,
        {{ normalized_text('special_instructions') }} as special_instructions,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
