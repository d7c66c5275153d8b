-- MES production progress per tenant and work order, from the production count messages.
-- Good = units with quality_status 'pass', scrapped = 'fail'; units without a quality status
-- count as produced only.
with production_counts as (
    select * from {{ ref('stg_mes__production_counts') }}
),

aggregated as (
    select
        tenant_id,
        erp_work_order_id,
        sum(units_produced) as units_produced,
        sum(case when quality_status = 'pass' then units_produced else 0 end) as good_units,
        sum(case when quality_status = 'fail' then units_produced else 0 end) as scrapped_units,
        count(*) as count_message_count,
        min(counted_at) as first_counted_at,
        max(counted_at) as last_counted_at
    from production_counts
    group by tenant_id, erp_work_order_id
)

select * from aggregated
