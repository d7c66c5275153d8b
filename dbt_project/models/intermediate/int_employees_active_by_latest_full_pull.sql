-- Employees with is_active from the latest complete full pull of the HR API (003 §5.2.1 step 4:
-- employees no longer in the HR system are marked inactive, never deleted). A tenant without a
-- full pull (drop files only) keeps is_active as the HR system published it.
with employees as (
    select * from {{ ref('stg_hr__employees') }}
),

snapshots as (
    select * from {{ ref('stg_audit__pull_snapshots') }}
    where source_system = 'hr' and entity = 'employees'
),

latest_snapshot as (
    select tenant_id, snapshot_id, snapshot_at
    from snapshots
    qualify row_number() over (
        partition by tenant_id order by snapshot_at desc, snapshot_id desc
    ) = 1
),

latest_members as (
    select snapshots.tenant_id, snapshots.record_key as employee_id
    from snapshots
    inner join latest_snapshot
        on snapshots.tenant_id = latest_snapshot.tenant_id
        and snapshots.snapshot_id = latest_snapshot.snapshot_id
),

final as (
    select
        employees.* exclude (is_active),
        latest_snapshot.tenant_id is not null and latest_members.employee_id is null
            as is_absent_from_latest_full_pull,
        case
            when latest_snapshot.tenant_id is not null and latest_members.employee_id is null
                then false
            else employees.is_active
        end as is_active,
        latest_snapshot.snapshot_at as latest_full_pull_at
    from employees
    left join latest_snapshot
        on employees.tenant_id = latest_snapshot.tenant_id
    left join latest_members
        on employees.tenant_id = latest_members.tenant_id
        and employees.employee_id = latest_members.employee_id
)

select * from final
