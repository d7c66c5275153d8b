-- PII masking: names, e-mail and phone never reach the marts schema (they stay in raw/staging).
-- Runs after the HR-derived marts. Dagster shows it as a check on fct_labor_hours, the daily mart
-- built last: dbt runs it in the daily step (its `--exclude tag:daily` leaves it out of the other
-- step), so a check on dim_employees would never get a result, only an observation and a warning.
{{ config(meta={'dagster': {'ref': {'name': 'fct_labor_hours'}}}) }}
-- depends_on: {{ ref('dim_employees') }}
-- depends_on: {{ ref('fct_labor_hours') }}
select table_name, column_name
from information_schema.columns
where table_catalog = current_database()
    and table_schema = '{{ generate_schema_name('marts', none) }}'
    and lower(column_name) in ('first_name', 'last_name', 'email', 'phone', 'full_name', 'name')
