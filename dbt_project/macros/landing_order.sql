{#- The order in which landed records arrived, newest first: the tie-break every "latest record
    wins" rule falls back to when source timestamps are equal or absent. Mirrors the lineage
    columns written by traceloom_pipelines/landing/loader.py. -#}
{% macro landing_order_desc() -%}
    _ingested_at desc, _source_file desc, _source_row desc
{%- endmacro %}
