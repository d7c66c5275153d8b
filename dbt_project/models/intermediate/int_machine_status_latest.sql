-- Latest status sample per machine, mapped to TraceLoom's machine status (003 §4.3).
with machine_status as (
    select * from {{ ref('stg_mes__machine_status') }}
),

status_map as (
    select * from {{ ref('mes_machine_status_map') }}
),

latest as (
    select *
    from machine_status
    qualify row_number() over (
        partition by tenant_id, machine_id
        order by status_at desc, ingested_at desc
    ) = 1
),

mapped as (
    select
        latest.tenant_id,
        latest.machine_id,
        latest.status_at,
        latest.mes_status,
        status_map.machine_status,
        latest.utilization_pct,
        latest.current_work_order_id
    from latest
    left join status_map
        on latest.mes_status = status_map.mes_status
)

select * from mapped
