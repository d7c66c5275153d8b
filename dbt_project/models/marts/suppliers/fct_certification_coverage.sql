-- One row per tenant and purchase order: which certificates its factory holds valid across the
-- PO's ship window, which required types are missing or expired, and the ESG badges (000 §4.1).
-- Rule (documented in fct_certification_coverage.yml):
--   valid    an active certificate with valid_from <= ship window start and valid_to >= end;
--   missing  a required type the factory holds no certificate of at all;
--   expired  a required type the factory holds, but no certificate of it is valid (lapsed
--            before or during the window, not yet valid, suspended or withdrawn).
with purchase_orders as (
    select * replace (
        {{ utc_naive('first_seen_at') }} as first_seen_at,
        {{ utc_naive('updated_at') }} as updated_at
    )
    from {{ ref('fct_purchase_orders') }}
),

certificates as (
    select * from {{ ref('stg_certifications__certificates') }}
),

required_types as (
    select tenant_id, certificate_type
    from {{ ref('stg_certifications__requirements') }}
    where is_required
),

badges as (
    select * from {{ ref('certificate_types') }}
),

held as (
    select
        purchase_orders.tenant_id,
        purchase_orders.po_id,
        certificates.certificate_type,
        bool_or(
            certificates.certificate_status = 'active'
            and certificates.valid_from_date <= purchase_orders.ship_window_start_date
            and certificates.valid_to_date >= purchase_orders.ship_window_end_date
        ) as is_valid
    from purchase_orders
    inner join certificates
        on purchase_orders.tenant_id = certificates.tenant_id
        and purchase_orders.factory = certificates.factory
    group by all
),

required_status as (
    select
        purchase_orders.tenant_id,
        purchase_orders.po_id,
        required_types.certificate_type,
        case
            when held.certificate_type is null then 'missing'
            when coalesce(held.is_valid, false) then 'valid'
            else 'expired'
        end as requirement_status
    from purchase_orders
    inner join required_types
        on purchase_orders.tenant_id = required_types.tenant_id
    left join held
        on purchase_orders.tenant_id = held.tenant_id
        and purchase_orders.po_id = held.po_id
        and required_types.certificate_type = held.certificate_type
),

valid_per_po as (
    select
        held.tenant_id,
        held.po_id,
        list(held.certificate_type order by held.certificate_type) as valid_types,
        list(distinct badges.badge order by badges.badge)
            filter (where badges.badge is not null) as badges
    from held
    left join badges
        on held.certificate_type = badges.certificate_type
    where held.is_valid
    group by all
),

required_per_po as (
    select
        tenant_id,
        po_id,
        count(*) as required_count,
        count(*) filter (where requirement_status = 'valid') as covered_count,
        list(certificate_type order by certificate_type) as required_types,
        list(certificate_type order by certificate_type)
            filter (where requirement_status = 'missing') as missing_types,
        list(certificate_type order by certificate_type)
            filter (where requirement_status = 'expired') as expired_types
    from required_status
    group by all
),

latest_audit as (
    select tenant_id, factory, audit_date, audit_result, audit_score
    from {{ ref('stg_certifications__audits') }}
    qualify row_number() over (
        partition by tenant_id, factory order by audit_date desc, audit_id desc
    ) = 1
),

final as (
    select
        purchase_orders.tenant_id,
        purchase_orders.po_id,
        purchase_orders.factory,
        purchase_orders.supplier,
        purchase_orders.canonical_supplier_id,
        purchase_orders.ship_window_start_date,
        purchase_orders.ship_window_end_date,
        cast(coalesce(required_per_po.required_types, []) as varchar[]) as required_certificate_types,
        cast(coalesce(valid_per_po.valid_types, []) as varchar[]) as valid_certificate_types,
        cast(coalesce(required_per_po.missing_types, []) as varchar[]) as missing_certificate_types,
        cast(coalesce(required_per_po.expired_types, []) as varchar[]) as expired_certificate_types,
        cast(coalesce(valid_per_po.badges, []) as varchar[]) as esg_badges,
        cast(coalesce(required_per_po.required_count, 0) as bigint) as required_count,
        cast(coalesce(required_per_po.covered_count, 0) as bigint) as covered_required_count,
        coalesce(required_per_po.required_count, 0) = coalesce(required_per_po.covered_count, 0)
            as is_fully_covered,
        latest_audit.audit_date as latest_audit_date,
        latest_audit.audit_result as latest_audit_result,
        latest_audit.audit_score as latest_audit_score
    from purchase_orders
    left join required_per_po
        on purchase_orders.tenant_id = required_per_po.tenant_id
        and purchase_orders.po_id = required_per_po.po_id
    left join valid_per_po
        on purchase_orders.tenant_id = valid_per_po.tenant_id
        and purchase_orders.po_id = valid_per_po.po_id
    left join latest_audit
        on purchase_orders.tenant_id = latest_audit.tenant_id
        and purchase_orders.factory = latest_audit.factory
)

select * from final
