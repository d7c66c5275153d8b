{#- Hong Kong Marine Department text conventions, shared by the port staging models. -#}

{#- MarDep local time ('2025/08/24 06:00' or '21-AUG-2025 18:47', Hong Kong, no offset) as a
    naive Hong Kong wall-clock timestamp; null when the text is in neither format. The formats
    mirror HK_LOCAL_TIME_FORMATS in traceloom_pipelines/sources/port/contract.py. -#}
{% macro mardep_hk_local_time(column) -%}
    try_strptime(
        {{ column }},
        ['%Y/%m/%d %H:%M', '%Y/%m/%d %H:%M:%S', '%d-%b-%Y %H:%M', '%d-%b-%Y %H:%M:%S']
    )
{%- endmacro %}

{#- A naive Hong Kong wall-clock timestamp converted to a naive UTC timestamp. -#}
{% macro hk_local_to_utc(column) -%}
    timezone('UTC', timezone('Asia/Hong_Kong', {{ column }}))
{%- endmacro %}

{#- Vessel name for matching across feeds: trimmed, single-spaced, upper case. -#}
{% macro normalized_vessel_name(column) -%}
    upper(regexp_replace(trim({{ column }}), '\s+', ' ', 'g'))
{%- endmacro %}

{#- Vessel name as a match key across feeds that spell it differently (carrier bookings, AIS,
    MarDep): upper case, a leading vessel prefix (M/V, MV, M.V., MS, M/S, MT, M/T, SS) dropped,
    then everything but letters and digits removed — 'M/V Ever-Given', 'EVER  GIVEN' and
    'EVERGIVEN' all become 'EVERGIVEN'. Null when nothing is left. -#}
{% macro vessel_name_match_key(column) -%}
    nullif(
        regexp_replace(
            regexp_replace(
                upper(trim({{ column }})),
                '^(M\s*/\s*V|M\.\s*V\.?|MV|M\s*/\s*S|MS|M\s*/\s*T|MT|SS)[\s.:_-]+',
                ''
            ),
            '[^A-Z0-9]',
            '',
            'g'
        ),
        ''
    )
{%- endmacro %}
