-- HKO warnings as intervals: one row per tenant, warning statement, level code and issue time,
-- with [started_at, ended_at) in UTC (000 §3.2: a warning's life issued → updated → cancelled).
--
-- A level is in force from its issueTime. It ends at the earliest of: a CANCEL of the same
-- warning statement at or after its start ('cancelled'), the issue of the next level or next
-- occurrence of that statement ('superseded': TC3 replaces TC1), or the expireTime of its
-- latest state ('expires': WTS; an EXTEND moves it). ended_at null = still in force at the
-- last pull. HKO warnings cover Hong Kong: weather_zone 'hk' (seeds/weather_zones.csv).
with states as (
    select * from {{ ref('stg_weather__hko_warning_summary') }}
),

levels as (
    -- 'CANCEL' as a level code is a cancellation, not a level of its own
    select
        tenant_id,
        warning_statement_code,
        warning_code,
        issued_at as started_at,
        arg_max(warning_name, updated_at) as warning_name,
        arg_max(warning_type, updated_at) as warning_type,
        arg_max(action_code, updated_at) as last_action_code,
        arg_max(expires_at, updated_at) as expires_at,
        max(updated_at) as last_updated_at,
        count(*) as state_changes
    from states
    where warning_code <> 'CANCEL'
    group by tenant_id, warning_statement_code, warning_code, issued_at
),

cancellations as (
    select tenant_id, warning_statement_code, updated_at as cancelled_at
    from states
    where is_cancellation
),

sequenced as (
    select
        *,
        lead(started_at) over (
            partition by tenant_id, warning_statement_code order by started_at, warning_code
        ) as next_started_at
    from levels
),

with_cancel as (
    select
        s.*,
        (
            select min(c.cancelled_at)
            from cancellations as c
            where c.tenant_id = s.tenant_id
                and c.warning_statement_code = s.warning_statement_code
                and c.cancelled_at >= s.started_at
        ) as cancelled_at
    from sequenced as s
),

ended as (
    select
        *,
        least(cancelled_at, next_started_at, expires_at) as ended_at
    from with_cancel
)

select
    tenant_id,
    'hk' as weather_zone,
    warning_statement_code,
    warning_code,
    warning_name,
    warning_type,
    started_at,
    ended_at,
    case
        when ended_at is null then null
        when ended_at = cancelled_at then 'cancelled'
        when ended_at = next_started_at then 'superseded'
        else 'expires'
    end as end_reason,
    ended_at is null as is_open_ended,
    last_action_code,
    last_updated_at,
    state_changes
from ended
