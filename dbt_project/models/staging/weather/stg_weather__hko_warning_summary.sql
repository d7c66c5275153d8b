-- HKO warning summary (warnsum) states, one row per tenant, warning statement, level code, issue
-- time, update time and action. Every pull re-publishes the warnings in force: an unchanged
-- warning is skipped at landing as an exact duplicate, a changed one (update, extension,
-- cancellation) is a new row. Times are UTC (published with +08:00).
with source as (
    select * from {{ source('weather', 'hko_warning_summary') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "warningStatementCode", code, "issueTime", "updateTime", "actionCode"
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "warningStatementCode" as warning_statement_code,
        code as warning_code,
        "name" as warning_name,
        "type" as warning_type,
        "actionCode" as action_code,
        "actionCode" = 'CANCEL' as is_cancellation,
        "issueTime" as issued_at,
        "updateTime" as updated_at,
        "expireTime" as expires_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
