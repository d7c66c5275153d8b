-- Bill of materials of each ERP work order's latest event, summarized per work order.
with bom_lines as (
    select * from {{ ref('stg_erp__work_order_bom_lines') }}
),

aggregated as (
    select
        tenant_id,
        erp_work_order_id,
        count(*) as bom_line_count,
        count(distinct material_id) as bom_material_count,
        sum(quantity_required) as bom_quantity_required
    from bom_lines
    group by tenant_id, erp_work_order_id
)

select * from aggregated
