-- One row per tenant and canonical supplier (seed 004 golden record, issue #16 §2): the
-- clusters of identity resolution (stg_master_data__supplier_clusters) with golden attributes.
-- Survivorship: each attribute is taken from the cluster's record of the highest-priority source
-- that has it (ERP vendor master, then the ERP POs, EDI, certificate holders, carriers'
-- shippers), ties broken by the smallest record id.
with clusters as (
    select * from {{ ref('stg_master_data__supplier_clusters') }}
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
        canonical_supplier_id,
        min_by(name, survivorship_rank) filter (where name is not null) as supplier_name,
        min_by(tax_id, survivorship_rank) filter (where tax_id is not null) as tax_id,
        min_by(duns, survivorship_rank) filter (where duns is not null) as duns,
        min_by(gln, survivorship_rank) filter (where gln is not null) as gln,
        min_by(country, survivorship_rank) filter (where country is not null) as country,
        min_by(city, survivorship_rank) filter (where city is not null) as city,
        list(source_id order by source_id) filter (where source_kind = 'erp_vendor')
            as erp_vendor_ids,
        list(source_id order by source_id) filter (where source_kind = 'edi_partner')
            as edi_partner_ids,
        list(record_id order by record_id) as source_record_ids,
        cast(count(*) as bigint) as source_record_count,
        max(resolved_at) as resolved_at
    from ranked
    group by tenant_id, canonical_supplier_id
)

select * replace ({{ utc_timestamptz('resolved_at') }} as resolved_at)
from final
