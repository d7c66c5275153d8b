-- One row per tenant and employee, PII masked: names, e-mail and phone are left out on purpose
-- (they stay in the restricted raw/staging schemas); skills are summarized.
with employees as (
    select * from {{ ref('int_employees_active_by_latest_full_pull') }}
),

skills as (
    select * from {{ ref('stg_hr__employee_skills') }}
),

skills_per_employee as (
    select
        tenant_id,
        employee_id,
        count(*) as skill_count,
        string_agg(skill_code, ', ' order by skill_code) as skill_codes
    from skills
    group by tenant_id, employee_id
),

final as (
    select
        employees.tenant_id,
        employees.employee_id,
        employees.department,
        employees.job_title,
        employees.location,
        employees.hire_date,
        employees.is_active,
        cast(coalesce(skills_per_employee.skill_count, 0) as bigint) as skill_count,
        coalesce(skills_per_employee.skill_codes, '') as skill_codes
    from employees
    left join skills_per_employee
        on employees.tenant_id = skills_per_employee.tenant_id
        and employees.employee_id = skills_per_employee.employee_id
)

select * from final
