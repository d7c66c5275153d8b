-- Bill-of-materials lines of the winning (latest) event of each ERP work order.
with source as (
    select * from {{ source('erp', 'work_order_bom_lines') }}
),

work_orders as (
    select * from {{ ref('stg_erp__work_orders') }}
),

lines_of_latest_event as (
    select source.*
    from source
    inner join work_orders
        on source.tenant_id = work_orders.tenant_id
        and source._parent_record_hash = work_orders.record_hash
),

renamed as (
    select
        tenant_id,
        erp_work_order_id,
        _child_index + 1 as bom_line_number,
        material_id,
        part_number,
        {{ normalized_text('part_name') }} as part_name,
        quantity_required,
        unit_of_measure,
        _parent_record_hash as work_order_record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from lines_of_latest_event
)

select * from renamed
