-- One row per tenant and registered machine, with its latest reported status.
with machines as (
    select * from {{ ref('stg_mes__machines') }}
),

latest_status as (
    select * from {{ ref('int_machine_status_latest') }}
),

final as (
    select
        machines.tenant_id,
        machines.machine_id,
        machines.factory,
        machines.production_line,
        machines.machine_type,
        machines.ideal_cycle_time_seconds,
        machines.is_active,
        latest_status.machine_status as current_status,
        latest_status.mes_status as current_mes_status,
        latest_status.status_at as current_status_at,
        latest_status.utilization_pct as current_utilization_pct,
        latest_status.current_work_order_id
    from machines
    left join latest_status
        on machines.tenant_id = latest_status.tenant_id
        and machines.machine_id = latest_status.machine_id
)

select * replace (
    {{ utc_timestamptz('current_status_at') }} as current_status_at
)
from final
