{#- Match shipments' vessel names (carrier feed: vesselName + voyage) to AIS vessels, 000 §3.3.

    shipments: a relation with tenant_id, vessel_name, voyage (more columns are ignored).
    ais_vessels: a relation with mmsi, imo_number, call_sign, ship_name, vessel_match_key,
        reported_at (stg_ais__static_reports).
    min_similarity: the Jaro-Winkler similarity of two match keys above which a spelling
        variant still counts as the same vessel.

    One row per tenant, vessel name as the shipment spells it and voyage. Rules, in order:
    equal match keys (vessel_name_match_key: case, spacing, punctuation, M/V-style prefixes)
    → match_method 'exact' when the trimmed names are equal (case too), else 'normalized';
    otherwise the most similar AIS name with similarity >= min_similarity → 'fuzzy'. A name
    whose best candidates are two or more different MMSIs is ambiguous and stays unmatched.
    AIS carries no voyage number, so the voyage is kept in the grain, not used to match.
    AIS is a public feed: it is matched against every tenant's shipments (no tenant join). -#}
{% macro vessel_ais_matches(shipments, ais_vessels, min_similarity=0.92) %}
with shipment_vessels as (
    select distinct
        tenant_id,
        vessel_name as shipment_vessel_name,
        voyage,
        {{ vessel_name_match_key('vessel_name') }} as match_key
    from {{ shipments }}
    where vessel_name is not null
),

ais_latest as (
    select
        mmsi,
        arg_max(imo_number, reported_at) as imo_number,
        arg_max(call_sign, reported_at) as call_sign,
        arg_max(ship_name, reported_at) as ais_ship_name,
        arg_max(vessel_match_key, reported_at) as ais_match_key
    from {{ ais_vessels }}
    where vessel_match_key is not null
    group by mmsi
),

candidates as (
    select
        s.tenant_id,
        s.shipment_vessel_name,
        s.voyage,
        a.mmsi,
        a.imo_number,
        a.call_sign,
        a.ais_ship_name,
        case
            when s.match_key = a.ais_match_key then 1.0
            else jaro_winkler_similarity(s.match_key, a.ais_match_key)
        end as name_similarity
    from shipment_vessels as s
    inner join ais_latest as a
        on s.match_key = a.ais_match_key
        or jaro_winkler_similarity(s.match_key, a.ais_match_key) >= {{ min_similarity }}
),

best as (
    select
        *,
        count(*) over (
            partition by tenant_id, shipment_vessel_name, voyage, name_similarity
        ) as candidates_at_best
    from candidates
    qualify rank() over (
        partition by tenant_id, shipment_vessel_name, voyage order by name_similarity desc
    ) = 1
)

select
    s.tenant_id,
    s.shipment_vessel_name,
    s.voyage,
    s.match_key,
    b.mmsi,
    b.imo_number,
    b.call_sign,
    b.ais_ship_name,
    b.name_similarity,
    case
        when b.mmsi is null then null
        when b.name_similarity = 1.0
            and trim(s.shipment_vessel_name) = b.ais_ship_name then 'exact'
        when b.name_similarity = 1.0 then 'normalized'
        else 'fuzzy'
    end as match_method,
    b.mmsi is not null as is_matched
from shipment_vessels as s
left join best as b
    on s.tenant_id = b.tenant_id
    and s.shipment_vessel_name = b.shipment_vessel_name
    and s.voyage is not distinct from b.voyage
    and b.candidates_at_best = 1
{% endmacro %}

{#- Match rate of vessel_ais_matches rows, per tenant: distinct vessels (by match key) that
    matched an AIS vessel over all distinct vessels named in shipments. -#}
{% macro vessel_ais_match_rate(matches) %}
select
    tenant_id,
    count(distinct match_key) as vessels_total,
    count(distinct match_key) filter (where is_matched) as vessels_matched,
    round(
        count(distinct match_key) filter (where is_matched)
        / nullif(count(distinct match_key), 0),
        4
    ) as match_rate
from {{ matches }}
group by tenant_id
{% endmacro %}
