-- One row per tenant and EDI trading partner (interchange sender id, ISA06 / UNB): the standard
-- it sends and the canonical supplier it is (identity resolution: the partner id through the
-- ERP vendor master's EDI partner id), with the supplier's golden name.
with clusters as (
    select * from {{ ref('stg_master_data__supplier_clusters') }}
),

suppliers as (
    select * from {{ ref('dim_suppliers') }}
),

edi_orders as (
    select * from {{ ref('stg_edi__purchase_orders') }}
),

standards as (
    select
        tenant_id,
        partner_id,
        min(edi_standard) as edi_standard,
        cast(count(*) as bigint) as purchase_order_count
    from edi_orders
    group by tenant_id, partner_id
),

final as (
    select
        clusters.tenant_id,
        clusters.source_id as partner_id,
        clusters.canonical_supplier_id,
        suppliers.supplier_name,
        standards.edi_standard,
        cast(coalesce(standards.purchase_order_count, 0) as bigint) as purchase_order_count
    from clusters
    inner join suppliers
        on clusters.tenant_id = suppliers.tenant_id
        and clusters.canonical_supplier_id = suppliers.canonical_supplier_id
    left join standards
        on clusters.tenant_id = standards.tenant_id
        and clusters.source_id = standards.partner_id
    where clusters.source_kind = 'edi_partner'
)

select * from final
