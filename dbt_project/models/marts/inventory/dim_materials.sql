-- One row per tenant and material from the ERP material master, with its safety stock.
with materials as (
    select * from {{ ref('stg_erp__materials') }}
),

final as (
    select
        tenant_id,
        material_id,
        part_number,
        part_name,
        material_description,
        category,
        unit_of_measure,
        standard_cost,
        currency,
        is_active,
        safety_stock_quantity
    from materials
)

select * from final
