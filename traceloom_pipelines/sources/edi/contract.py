"""EDI source contract: trading partners' purchase orders, PO acknowledgments and ship notices
(seed 001: "Must support EDI transactions for automated procurement"; supplier connections
``type: 'EDI' | 'API' | 'Portal'``, ``sendEDIOrder`` → "EDI 850 (Purchase Order)").

Drop folders ``landing/<tenant>/edi/{purchase_orders,po_acknowledgments,ship_notices}/``, files
``*.edi``, ``*.x12``, ``*.edifact``: ANSI X12 850 / 855 / 856 or UN/EDIFACT ORDERS / ORDRSP /
DESADV interchanges as partners send them. The reader (``connector.py``) checks the envelopes
(``envelope.py``), turns each transaction into line records (``messages.py``) and writes a
997 / CONTRL for the sender (``acknowledgments.py``). Every row carries ``tenant_id`` (the drop
folder) and ``partner_id`` (the interchange sender, ISA06 / UNB S002).

Every field lands as sent (text) unless typed below: dates (``DATE``) are converted from
``CCYYMMDD`` (X12 DTM/BEG, EDIFACT DTM format 102); quantities and prices (``DOUBLE``) are in
the line's own ``unit`` (X12 355 / EDIFACT 6411 unit codes, e.g. ``EA``, ``PCE``) and the
order's ``currency`` (ISO 4217; null when the message carries no CUR/CUX).

Defects (see ``connector.py``): the reader yields envelope defects and rejected transactions as
records whose ``_envelope`` / ``_transaction`` column holds the defect code; the checks of those
two columns (named after the codes) fail, so the loader quarantines them as
``_envelope:<code>`` / ``_transaction:<code>`` with the detail and the segments in the record.
Both columns are null in every landed row. Which fields a transaction must carry (PO number,
BEG/BAK/BSN …) is checked by the reader, so that the reason names the segment.
"""

from __future__ import annotations

from functools import partial

import pandera.polars as pa
import polars as pl

from traceloom_pipelines.landing.checks import DATE, INTEGER, NUMBER, field
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.sources.edi.connector import SUFFIXES, SYSTEM, iter_edi_records
from traceloom_pipelines.sources.edi.envelope import (
    EDIFACT,
    ENVELOPE_DEFECTS,
    TRANSACTION_DEFECTS,
    X12,
)

SEED_REF = "001 (EDI transactions for automated procurement; supplier connections `EDI`)"


def _defect_check(code: str) -> pa.Check:
    """Fails the rows whose defect column holds ``code`` (reason ``<column>:<code>``)."""

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        value = pl.col(data.key)
        return data.lazyframe.select(value.is_null() | (value != code))

    return pa.Check(check, name=code)


def _unknown_defect(codes: tuple[str, ...]) -> pa.Check:
    def check(data: pa.PolarsData) -> pl.LazyFrame:
        value = pl.col(data.key)
        return data.lazyframe.select(value.is_null() | value.is_in(list(codes)))

    return pa.Check(check, name="known_defect")


def defect_column(path: str, codes: tuple[str, ...], description: str) -> pa.Column:
    """A defect marker column at ``path``: null in landed rows; a row carrying a code fails the
    check named after it (and ``known_defect`` if the code is not one of ``codes``)."""
    return pa.Column(
        pl.String,
        checks=[_unknown_defect(codes), *(_defect_check(c) for c in codes)],
        nullable=True,
        required=True,
        description=description,
        metadata=field(path).metadata,
    )


def _envelope_fields() -> dict[str, pa.Column]:
    return {
        "edi_standard": field(
            "$.edi_standard", required=True, accepted=(X12, EDIFACT), description="Standard."
        ),
        "message_type": field(
            "$.message_type", description="X12 transaction set (ST01) / EDIFACT message (UNH)."
        ),
        "partner_id": field(
            "$.partner_id",
            required=True,
            description="Trading partner: the interchange sender (ISA06 / UNB S002 0004).",
        ),
        "partner_id_qualifier": field(
            "$.partner_id_qualifier", description="ISA05 / UNB 0007 (e.g. 01 DUNS, ZZ mutual)."
        ),
        "receiver_id": field("$.receiver_id", description="ISA08 / UNB S003 0010."),
        "interchange_control_number": field(
            "$.interchange_control_number", required=True, description="ISA13 / UNB 0020."
        ),
        "interchange_date": field("$.interchange_date", DATE, description="ISA09 / UNB S004."),
        "group_control_number": field(
            "$.group_control_number", description="GS06 / UNG 0048 (null without a group)."
        ),
        "transaction_control_number": field(
            "$.transaction_control_number", description="ST02 / UNH 0062."
        ),
        "line_sequence": field(
            "$.line_sequence",
            INTEGER,
            non_negative_value=True,
            description="1-based record number within the transaction.",
        ),
    }


def _defect_fields() -> dict[str, pa.Column]:
    return {
        "_envelope": defect_column(
            "$._envelope",
            ENVELOPE_DEFECTS,
            "Envelope defect code; null in landed rows (quarantined).",
        ),
        "_transaction": defect_column(
            "$._transaction",
            TRANSACTION_DEFECTS,
            "Transaction defect code; null in landed rows (quarantined).",
        ),
    }


def _item_fields() -> dict[str, pa.Column]:
    return {
        "line_number": field("$.line_number", description="PO101 / LIN01 / SN101 / LIN 1082."),
        "buyer_item_number": field(
            "$.buyer_item_number", description="Buyer's item (qualifier BP/IN)."
        ),
        "vendor_part_number": field(
            "$.vendor_part_number", description="Vendor's part (qualifier VP/VN/VA, PIA SA)."
        ),
        "gtin": field("$.gtin", description="UPC/EAN/GTIN (qualifier UP/EN/UK, LIN SRV)."),
    }


purchase_orders = SourceEntity(
    system=SYSTEM,
    entity="purchase_orders",
    seed_ref=f"{SEED_REF}; X12 850 / EDIFACT ORDERS",
    description=(
        "Partners' purchase orders, one record per PO line (X12 850 PO1 / EDIFACT ORDERS LIN) "
        "with the order's header; a re-sent PO is a new interchange and lands again."
    ),
    schema=pa.DataFrameSchema(
        {
            **_envelope_fields(),
            "po_purpose_code": field(
                "$.po_purpose_code", description="BEG01 (00 original …) / BGM 1225 (9 …)."
            ),
            "po_number": field("$.po_number", description="BEG03 / BGM 1004."),
            "po_date": field("$.po_date", DATE, description="BEG05 / DTM 137."),
            "buyer_id": field("$.buyer_id", description="N1*BY N104 / NAD+BY."),
            "seller_id": field("$.seller_id", description="N1*SE|SU|VN N104 / NAD+SU|SE."),
            "ship_to_id": field("$.ship_to_id", description="N1*ST N104 / NAD+ST|DP."),
            "ship_to_name": field("$.ship_to_name", description="N1*ST N102 / NAD+ST|DP."),
            "currency": field("$.currency", description="CUR02 / CUX (ISO 4217)."),
            **_item_fields(),
            "quantity": field(
                "$.quantity", NUMBER, non_negative_value=True, description="PO102 / QTY+21."
            ),
            "unit": field("$.unit", description="PO103 / QTY 6411."),
            "unit_price": field(
                "$.unit_price", NUMBER, non_negative_value=True, description="PO104 / PRI+AAA."
            ),
            "requested_delivery_date": field(
                "$.requested_delivery_date", DATE, description="DTM*002 / DTM+2 (line or header)."
            ),
            **_defect_fields(),
        },
        name="edi.purchase_orders",
    ),
    reader=partial(iter_edi_records, entity="purchase_orders"),
    file_suffixes=SUFFIXES,
)

po_acknowledgments = SourceEntity(
    system=SYSTEM,
    entity="po_acknowledgments",
    seed_ref=f"{SEED_REF}; X12 855 / EDIFACT ORDRSP",
    description=(
        "Suppliers' PO acknowledgments, one record per acknowledged line (X12 855 ACK / "
        "EDIFACT ORDRSP LIN), or one header record when the whole PO is acknowledged."
    ),
    schema=pa.DataFrameSchema(
        {
            **_envelope_fields(),
            "po_purpose_code": field("$.po_purpose_code", description="BAK01."),
            "ack_type": field(
                "$.ack_type", description="BAK02 (AC, AD, AK, RJ …) / BGM 1225 (4, 27, 29 …)."
            ),
            "po_number": field("$.po_number", description="BAK03 / RFF+ON."),
            "po_date": field("$.po_date", DATE, description="BAK04 / DTM+171 after RFF+ON."),
            "seller_order_number": field("$.seller_order_number", description="BAK08 / BGM 1004."),
            "ack_date": field("$.ack_date", DATE, description="BAK09 / DTM+137."),
            **_item_fields(),
            "ordered_quantity": field(
                "$.ordered_quantity", NUMBER, non_negative_value=True, description="PO102 / QTY+21."
            ),
            "unit": field("$.unit", description="ACK03 or PO103 / QTY 6411."),
            "unit_price": field(
                "$.unit_price", NUMBER, non_negative_value=True, description="PO104 / PRI."
            ),
            "line_status": field(
                "$.line_status", description="ACK01 (IA, IR, IB, IQ …) / LIN 1229 (3, 5, 7 …)."
            ),
            "acknowledged_quantity": field(
                "$.acknowledged_quantity",
                NUMBER,
                non_negative_value=True,
                description="ACK02 / QTY+113.",
            ),
            "scheduled_date_qualifier": field(
                "$.scheduled_date_qualifier", description="ACK04 (068 ship …) / DTM 2005."
            ),
            "scheduled_date": field("$.scheduled_date", DATE, description="ACK05 / DTM."),
            **_defect_fields(),
        },
        name="edi.po_acknowledgments",
    ),
    reader=partial(iter_edi_records, entity="po_acknowledgments"),
    file_suffixes=SUFFIXES,
)

ship_notices = SourceEntity(
    system=SYSTEM,
    entity="ship_notices",
    seed_ref=f"{SEED_REF}; 001 'track shipments and delivery confirmations'; X12 856 / DESADV",
    description=(
        "Advance ship notices, one record per shipped item (X12 856 HL item level / EDIFACT "
        "DESADV LIN) with the shipment's carrier, container and tracking references."
    ),
    schema=pa.DataFrameSchema(
        {
            **_envelope_fields(),
            "shipment_id": field("$.shipment_id", description="BSN02 / BGM 1004."),
            "asn_date": field("$.asn_date", DATE, description="BSN03 / DTM+137."),
            "ship_date": field("$.ship_date", DATE, description="DTM*011 / DTM+11."),
            "estimated_delivery_date": field(
                "$.estimated_delivery_date", DATE, description="DTM*017 / DTM+17|132."
            ),
            "carrier_code": field("$.carrier_code", description="TD503 (SCAC) / TDT C040."),
            "transport_method": field("$.transport_method", description="TD504 / TDT 8067 (mode)."),
            "bill_of_lading_number": field(
                "$.bill_of_lading_number", description="REF*BM / RFF+BM."
            ),
            "tracking_number": field("$.tracking_number", description="REF*CN / RFF+CN."),
            "container_number": field("$.container_number", description="TD302+TD303 / EQD+CN."),
            "po_number": field("$.po_number", description="PRF01 / RFF+ON."),
            "package_id": field("$.package_id", description="MAN*GM / GIN+BJ (SSCC)."),
            **_item_fields(),
            "shipped_quantity": field(
                "$.shipped_quantity", NUMBER, non_negative_value=True, description="SN102 / QTY+12."
            ),
            "unit": field("$.unit", description="SN103 / QTY 6411."),
            **_defect_fields(),
        },
        name="edi.ship_notices",
    ),
    reader=partial(iter_edi_records, entity="ship_notices"),
    file_suffixes=SUFFIXES,
)

ENTITIES = (purchase_orders, po_acknowledgments, ship_notices)
