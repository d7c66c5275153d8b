-- Latest MES job per work order with its status mapped to TraceLoom's vocabulary (003 §4.3).
with mes_work_orders as (
    select * from {{ ref('stg_mes__work_orders') }}
),

status_map as (
    select * from {{ ref('mes_work_order_status_map') }}
),

mapped as (
    select
        mes_work_orders.*,
        status_map.work_order_status
    from mes_work_orders
    left join status_map
        on mes_work_orders.mes_status = status_map.mes_status
)

select * from mapped
