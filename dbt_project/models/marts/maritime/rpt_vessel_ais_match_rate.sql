-- Share of the vessels named in each tenant's shipments that were found in AIS (000 §3.3):
-- distinct vessels by match key, matched over total.
{{ vessel_ais_match_rate(ref('int_vessel_ais_matches')) }}
