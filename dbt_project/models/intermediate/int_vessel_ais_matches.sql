-- Shipments' vessels (carrier milestone and DCSA feeds: vesselName + voyage) matched to AIS
-- static reports, one row per tenant, vessel name as the shipment spells it and voyage.
-- Matching rules: macros/vessel_matching.sql (000 §3.3).
{{ vessel_ais_matches(ref('int_shipment_milestones_unioned'), ref('stg_ais__static_reports')) }}
