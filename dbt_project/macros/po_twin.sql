{#- The PO digital twin's reference time and lane plan (fct_po_timeline, fct_po_delay_risk).

    po_twin_as_of(): the moment the twin is evaluated at, UTC timestamp. dbt var `po_twin_as_of`
    (ISO-8601 text, e.g. the demo world's as_of "2026-03-01T00:00:00Z"); without it, now (UTC).

    planned_transit_days(origin, destination, route_ports): the lane plan used when the carrier
    sends no planned arrival — sea days from departure at the origin to arrival at the
    destination: 26 to Europe (NL, DE, GB), 16 elsewhere; + 3 per transshipment port (route ports
    beyond origin and destination); + 2 from South Asia (BD, LK, IN). -#}
{% macro po_twin_as_of() -%}
    {%- set as_of = var('po_twin_as_of', none) -%}
    {%- if as_of -%}
        cast(timezone('UTC', cast('{{ as_of }}' as timestamptz)) as timestamp)
    {%- else -%}
        cast(timezone('UTC', current_timestamp) as timestamp)
    {%- endif -%}
{%- endmacro %}

{% macro planned_transit_days(origin, destination, route_ports) -%}
    (
        case when left({{ destination }}, 2) in ('NL', 'DE', 'GB') then 26 else 16 end
        + 3 * greatest(0, coalesce(json_array_length({{ route_ports }}), 2) - 2)
        + case when left({{ origin }}, 2) in ('BD', 'LK', 'IN') then 2 else 0 end
    )
{%- endmacro %}
