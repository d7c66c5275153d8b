-- PII masking: names, e-mail and phone never reach the marts schema (they stay in raw/staging).
-- Runs after the HR-derived marts; Dagster shows it as a check on dim_employees.
{{ config(meta={'dagster': {'ref': {'name': 'dim_employees'}}}) }}
-- depends_on: {{ ref('dim_employees') }}
-- depends_on: {{ ref('fct_labor_hours') }}
select table_name, column_name
from information_schema.columns
where table_catalog = current_database()
    and table_schema = '{{ generate_schema_name('marts', none) }}'
    and lower(column_name) in ('first_name', 'last_name', 'email', 'phone', 'full_name', 'name')
