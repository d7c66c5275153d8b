-- WMS-recorded consumption per tenant, material and UTC day: old_value - new_value of the
-- on-hand CDC events whose change_reason is consumption (receipts, adjustments, reservations
-- and transfers are not consumption).
with stock_events as (
    select * from {{ ref('stg_wms__stock_events') }}
),

aggregated as (
    select
        tenant_id,
        material_id,
        cast(event_at as date) as consumption_date,
        cast(sum(old_value - new_value) as double) as wms_recorded_consumption,
        count(*) as wms_transaction_count
    from stock_events
    where change_reason = 'consumption'
        and field_changed = 'on_hand_quantity'
    group by tenant_id, material_id, cast(event_at as date)
)

select * from aggregated
