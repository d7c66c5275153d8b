-- Units produced per tenant, work order and UTC day, from the MES production counts (pass and
-- fail units alike: a scrapped unit consumed its materials too).
with production_counts as (
    select * from {{ ref('stg_mes__production_counts') }}
),

aggregated as (
    select
        tenant_id,
        erp_work_order_id,
        cast(counted_at as date) as production_date,
        sum(units_produced) as units_produced,
        count(*) as count_message_count
    from production_counts
    where erp_work_order_id is not null
    group by tenant_id, erp_work_order_id, cast(counted_at as date)
)

select * from aggregated
