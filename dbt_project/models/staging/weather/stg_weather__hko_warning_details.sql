-- HKO warning texts (warningInfo), one row per tenant, warning statement, subtype and update
-- time; the paragraphs are joined into one text (newline-separated). Times are UTC.
with source as (
    select * from {{ source('weather', 'hko_warning_details') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "warningStatementCode", subtype, "updateTime"
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "warningStatementCode" as warning_statement_code,
        subtype as warning_code,
        array_to_string(
            from_json(coalesce(contents, '[]'), '["VARCHAR"]'), chr(10)
        ) as warning_text,
        "updateTime" as updated_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
