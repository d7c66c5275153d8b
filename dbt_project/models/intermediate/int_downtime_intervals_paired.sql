-- Downtime intervals per machine: a `downtime.started` opens a stop, the next `downtime.ended`
-- on the same machine closes it. A start that follows another start without an end in between
-- belongs to the already open stop (the earlier start wins); an end without an open stop is
-- ignored. A stop with no end yet stays open (ended_at null) and is not counted as downtime.
with downtime_events as (
    select * from {{ ref('stg_mes__downtime_events') }}
),

sequenced as (
    select
        *,
        lag(event_type) over per_machine as previous_event_type,
        min(case when event_type = 'downtime.ended' then event_at end) over (
            per_machine rows between 1 following and unbounded following
        ) as next_ended_at
    from downtime_events
    window per_machine as (
        partition by tenant_id, machine_id
        order by event_at, event_type desc
    )
),

intervals as (
    select
        tenant_id,
        machine_id,
        event_at as started_at,
        next_ended_at as ended_at,
        next_ended_at is null as is_open,
        downtime_reason_code,
        downtime_reason_description,
        severity,
        affected_work_order_id,
        date_diff('second', event_at, next_ended_at) / 60.0 as downtime_minutes
    from sequenced
    where event_type = 'downtime.started'
        and coalesce(previous_event_type, 'downtime.ended') = 'downtime.ended'
)

select * from intervals
