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

{% macro edi_line_item_id(po_id, line_number, line_sequence) -%}
    {#- The canonical line id `<po_id>-NN` of an EDI line from the partner's line number (X12
        PO101 / EDIFACT LIN 1082, "1" -> `<po_id>-01`), as the ERP routes number their lines; a
        non-numeric line number is kept as sent (`<po_id>-<line_number>`), a missing one falls
        back to the record's position in its transaction. -#}
    case
        when try_cast({{ line_number }} as integer) is not null
            -- printf, not lpad: lpad(…, 2) would cut line 100 to `-10`
            then {{ po_id }} || '-' || printf('%02d', try_cast({{ line_number }} as integer))
        when {{ line_number }} is not null then {{ po_id }} || '-' || {{ line_number }}
        else {{ po_id }} || '-' || printf('%02d', {{ line_sequence }})
    end
{%- endmacro %}

{% macro edi_transaction_headers(relation) -%}
    {#- One record per EDI transaction of `relation` (which has `transaction_key`): its first
        record, which speaks for the header an X12 / EDIFACT line record repeats. -#}
    select *
    from {{ relation }}
    qualify row_number() over (
        partition by tenant_id, transaction_key order by line_sequence, _source_row
    ) = 1
{%- endmacro %}
