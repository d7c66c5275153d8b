-- CSV header columns no contract field reads (issue #12 §4), one row per drop file and column,
-- recorded by the batch that first saw the column in that file.
with source as (
    select * from {{ source('audit', 'schema_drift') }}
),

renamed as (
    select
        tenant_id,
        source_system,
        entity,
        source_file,
        batch_id,
        field as drifted_column,
        first_value,
        first_value_row,
        recorded_at,
        run_id
    from source
)

select * from renamed
