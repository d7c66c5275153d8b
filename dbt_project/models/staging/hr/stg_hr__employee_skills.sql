-- Skills of the winning (latest) record of each employee; one row per employee and skill code.
with source as (
    select * from {{ source('hr', 'employee_skills') }}
),

employees as (
    select * from {{ ref('stg_hr__employees') }}
),

skills_of_latest_record as (
    select source.*
    from source
    inner join employees
        on source.tenant_id = employees.tenant_id
        and source._parent_record_hash = employees.record_hash
    -- a skill listed twice in one record: keep its first occurrence
    qualify row_number() over (
        partition by source.tenant_id, source.employee_id, source.skill_code
        order by source._child_index
    ) = 1
),

renamed as (
    select
        tenant_id,
        employee_id,
        skill_code,
        {{ normalized_text('skill_name') }} as skill_name,
        proficiency_level,
        certification_date,
        certification_expiry as certification_expiry_date,
        _parent_record_hash as employee_record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from skills_of_latest_record
)

select * from renamed
