-- One row per tenant and MES job: the latest record by LastUpdated. Field names follow the MES
-- mapping of 003 §4.3 (JobNumber -> erp_work_order_id, PartNumber -> product_id,
-- Quantity -> quantity_ordered; PartDescription -> part_description, free text normalised by
-- normalized_text); the MES status stays in MES vocabulary (mapped by a seed later).
with source as (
    select * from {{ source('mes', 'work_orders') }}
),

latest as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "JobNumber"
        order by "LastUpdated" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "JobNumber" as erp_work_order_id,
        "PartNumber" as product_id,
        {{ normalized_text('"PartDescription"') }} as part_description,
        "Quantity" as quantity_ordered,
        "Status" as mes_status,
        "QuantityProduced" as quantity_produced,
        "QuantityScrapped" as quantity_scrapped,
        "MachineId" as machine_id,
        "StartTime" as started_at,
        "EndTime" as ended_at,
        "LastUpdated" as last_updated_at,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from latest
)

select * from renamed
