-- One row per tenant and machine: the most recently landed registry record.
with source as (
    select * from {{ source('mes', 'machines') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, machine_id
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        machine_id,
        {{ normalized_text('factory') }} as factory,
        line as production_line,
        {{ normalized_text('machine_type') }} as machine_type,
        ideal_cycle_time_seconds,
        is_active,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
