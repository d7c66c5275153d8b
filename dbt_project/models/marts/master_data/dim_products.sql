-- One row per tenant and canonical product (seed 004 golden record, issue #16 §2): the clusters
-- of identity resolution (stg_master_data__product_clusters) with golden attributes.
-- Survivorship: each attribute from the cluster's record of the highest-priority source that
-- has it (ERP product master, then the ERP POs, MES part numbers, certified articles, EDI item
-- numbers), ties
-- broken by the smallest record id.
with clusters as (
    select * from {{ ref('stg_master_data__product_clusters') }}
),

ranked as (
    select
        *,
        lpad(cast(source_priority as varchar), 3, '0') || record_id as survivorship_rank
    from clusters
),

final as (
    select
        tenant_id,
        canonical_product_id,
        min_by(name, survivorship_rank) filter (where name is not null) as product_name,
        min_by(gtin, survivorship_rank) filter (where gtin is not null) as gtin,
        min_by(product_id, survivorship_rank) filter (where product_id is not null)
            as erp_product_id,
        list(source_id order by source_id) filter (where source_kind = 'mes_part')
            as mes_part_numbers,
        list(source_id order by source_id) filter (where source_kind = 'certified_product')
            as certified_article_numbers,
        list(source_id order by source_id) filter (where source_kind = 'edi_item')
            as edi_item_numbers,
        list(record_id order by record_id) as source_record_ids,
        cast(count(*) as bigint) as source_record_count,
        max(resolved_at) as resolved_at
    from ranked
    group by tenant_id, canonical_product_id
)

select * replace ({{ utc_timestamptz('resolved_at') }} as resolved_at)
from final
