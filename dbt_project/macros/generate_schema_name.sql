{#- Models land in the schema named in their config (staging, intermediate, marts, reference)
    exactly, not dbt's default `<target schema>_<custom schema>`; unconfigured ones in the target's. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
