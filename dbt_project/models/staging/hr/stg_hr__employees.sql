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
        first_name,
        last_name,
        email,
        phone,
        department,
        job_title,
        hire_date,
        is_active,
        location,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
