-- One row per tenant, purchase order and production stage (000 §2.2): latest planned and
-- actual start/end with delays against plan.
with milestones as (
    select * from {{ ref('stg_factory__production_milestones') }}
),

final as (
    select
        tenant_id,
        po_id,
        stage,
        case stage
            when 'yarn_received' then 1
            when 'knitting' then 2
            when 'dyeing' then 3
            when 'qa' then 4
            when 'packing' then 5
        end as stage_sequence,
        factory,
        work_order_id,
        machine_line,
        planned_start_at,
        planned_end_at,
        actual_start_at,
        actual_end_at,
        qa_result,
        actual_end_at is not null as is_completed,
        date_diff('second', planned_start_at, actual_start_at) / 3600.0 as start_delay_hours,
        date_diff('second', planned_end_at, actual_end_at) / 3600.0 as end_delay_hours,
        updated_at
    from milestones
)

select * replace (
    {{ utc_timestamptz('planned_start_at') }} as planned_start_at,
    {{ utc_timestamptz('planned_end_at') }} as planned_end_at,
    {{ utc_timestamptz('actual_start_at') }} as actual_start_at,
    {{ utc_timestamptz('actual_end_at') }} as actual_end_at,
    {{ utc_timestamptz('updated_at') }} as updated_at
)
from final
