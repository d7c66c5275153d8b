-- Inventory CDC events (003 §6.3), one row per tenant and WMS transaction. Exact replays are
-- skipped at landing; a transaction re-sent with different bytes keeps its last landed copy.
with source as (
    select * from {{ source('wms', 'stock_events') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, transaction_id
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        transaction_id,
        event_type,
        "timestamp" as event_at,
        material_id,
        field_changed,
        old_value,
        new_value,
        new_value - old_value as quantity_change,
        {{ normalized_text('change_reason') }} as change_reason,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
