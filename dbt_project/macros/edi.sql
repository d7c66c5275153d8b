{% macro edi_transaction_key(relation=none) -%}
    {#- One EDI transaction (an X12 ST/SE or EDIFACT UNH/UNT) of one landed file: its batch, the
        interchange, group and transaction control numbers, joined with '|'. `relation`
        qualifies the columns when the query joins several tables. -#}
    {%- set p = relation ~ '.' if relation else '' -%}
    concat_ws(
        '|',
        {{ p }}_batch_id,
        {{ p }}interchange_control_number,
        coalesce({{ p }}group_control_number, ''),
        coalesce({{ p }}transaction_control_number, '')
    )
{%- endmacro %}
