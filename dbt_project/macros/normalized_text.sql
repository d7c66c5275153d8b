{#- Free text from a source system as staging keeps it: every run of whitespace (spaces, tabs,
    line breaks, no-break and other Unicode spaces) becomes one space, leading and trailing
    whitespace is dropped, and text that is empty after that is null. Case is kept: a
    recapitalised description is an edit someone made (003 §3.4 auto-syncs description updates),
    while padding and line breaks are artefacts of fixed-width, CSV and form exports.
    Used for every free-text field of the source staging models (names, descriptions, reasons,
    instructions, titles); ids and codes are not free text and are not passed through it. -#}
{% macro normalized_text(column) -%}
    nullif(trim(regexp_replace({{ column }}, '[\s\pZ]+', ' ', 'g')), '')
{%- endmacro %}
