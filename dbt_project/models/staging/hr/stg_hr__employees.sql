-- One row per tenant and employee: the most recently landed record (the HR API sends no change
-- timestamp; later run, later file, later row wins). PII columns stay here and never reach marts.
with source as (
    select * from {{ source('hr', 'employees') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, employee_id
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        employee_id,
        {{ normalized_text('first_name') }} as first_name,
        {{ normalized_text('last_name') }} as last_name,
        email,
        phone,
        {{ normalized_text('department') }} as department,
        {{ normalized_text('job_title') }} as job_title,
        hire_date,
        is_active,
        {{ normalized_text('location') }} as location,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
