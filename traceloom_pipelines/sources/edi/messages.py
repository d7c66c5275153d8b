"""Transactions to records: what the six message types carry, in supply-chain column names.

Each function takes one :class:`~traceloom_pipelines.sources.edi.envelope.Transaction` and
returns its line records (dicts of text; dates as ``YYYY-MM-DD`` when they parse, else as sent so
the contract's ``is_date`` quarantines them), or raises :class:`BrokenTransaction` with a
transaction defect code. Envelope columns (partner, control numbers) are added by the reader
(``connector.py``).

Segments read (X12 004010 / EDIFACT D.96A; other versions carry the same segments):

- **850 purchase order**: BEG (01 purpose, 03 PO number, 05 PO date), CUR02 currency,
  N1 loops (N101 ``BY`` buyer, ``SE``/``SU``/``VN`` seller, ``ST`` ship-to; N102 name, N104 id),
  DTM ``002`` requested delivery (header, or the line's after its PO1), PO1 (01 line number,
  02 quantity, 03 unit, 04 unit price, then qualifier/id pairs: ``BP``/``IN`` buyer's item,
  ``VP``/``VN``/``VA`` vendor's part, ``UP``/``EN``/``UK`` GTIN). One record per PO1.
- **ORDERS**: BGM (1004 PO number, 1225 function), DTM ``137`` PO date / ``2`` requested
  delivery, NAD ``BY``/``SU``/``SE``/``DP``/``ST``, CUX currency, LIN (1082 line number, C212 item
  id with ``EN``/``UP``/``SRV`` GTIN), PIA (``IN``/``BP`` buyer's item, ``SA``/``VN`` vendor's
  part), QTY ``21`` (quantity, unit), PRI ``AAA``/``AAB`` unit price. One record per LIN.
- **855 acknowledgment**: BAK (01 purpose, 02 ack type, 03 PO number, 04 PO date, 08 seller's
  order number, 09 ack date), PO1 as in the 850 plus ACK (01 line status, 02 quantity,
  03 unit, 04 date qualifier, 05 date). One record per ACK (a PO1 without ACK: one record; no
  PO1 at all: one header record).
- **ORDRSP**: BGM (1004 response number, 1225 function = ack type), DTM ``137`` ack date,
  RFF ``ON`` PO number (DTM ``171`` after it: PO date), LIN (1229 action = line status), PIA,
  QTY ``21`` ordered / ``113`` acknowledged, PRI.
- **856 ship notice**: BSN (02 shipment id, 03 date), HL levels ``S``/``O``/``P``/``I``: TD5
  (03 carrier SCAC, 04 transport method), TD3 (02+03 container), REF ``BM`` bill of lading /
  ``CN`` carrier tracking, DTM ``011`` ship date / ``017`` estimated delivery, PRF (01 PO
  number), MAN ``GM`` package (SSCC), LIN (01 line number, qualifier/id pairs), SN1 (01 line
  number, 02 quantity shipped, 03 unit). One record per item (HL ``I``; a header record if none).
- **DESADV**: BGM (1004 despatch advice number = shipment id), DTM ``137``/``11`` ship date /
  ``17``/``132`` estimated delivery, RFF ``ON`` PO number / ``BM`` / ``CN``, TDT (C040 carrier),
  EQD ``CN`` container, GIN ``BJ`` package (SSCC), LIN/PIA, QTY ``12`` quantity shipped.
"""

from __future__ import annotations

from collections.abc import Callable

from traceloom_pipelines.sources.edi.envelope import Segment, Transaction

Record = dict[str, str | None]

BUYER_ITEM = ("BP", "IN")
VENDOR_PART = ("VP", "VN", "VA", "SA")
GTIN = ("UP", "EN", "UK", "SRV")
_ID_COLUMNS = ("buyer_item_number", "vendor_part_number", "gtin")


class BrokenTransaction(ValueError):
    """A transaction that lands nothing: ``code`` is its defect (``missing_beg`` …)."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def edi_date(text: str | None) -> str | None:
    """``CCYYMMDD`` (or ``CCYYMMDDHHMM``) → ``YYYY-MM-DD``; ``YYMMDD`` → ``20YY-MM-DD``;
    anything else unchanged (the contract's ``is_date`` reports it)."""
    if text is None:
        return None
    digits = text.strip()
    if digits.isdigit() and len(digits) in (8, 12, 14):
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    if digits.isdigit() and len(digits) == 6:
        return f"20{digits[:2]}-{digits[2:4]}-{digits[4:6]}"
    return text


def _number(text: str | None) -> str | None:
    """A decimal as text; EDIFACT's decimal comma becomes a point."""
    return None if text is None else text.strip().replace(",", ".")


def _item_ids(pairs: list[tuple[str | None, str | None]]) -> Record:
    ids: Record = {"buyer_item_number": None, "vendor_part_number": None, "gtin": None}
    for qualifier, value in pairs:
        if not qualifier or not value:
            continue
        for column, qualifiers in (
            ("buyer_item_number", BUYER_ITEM),
            ("vendor_part_number", VENDOR_PART),
            ("gtin", GTIN),
        ):
            if qualifier in qualifiers and ids[column] is None:
                ids[column] = value
    return ids


def _x12_pairs(seg: Segment, first: int) -> list[tuple[str | None, str | None]]:
    """Qualifier/id pairs from element ``first`` on (PO106/PO107, LIN02/LIN03 …)."""
    return [(seg.get(i), seg.get(i + 1)) for i in range(first, len(seg.elements) + 1, 2)]


def _require(seg: Segment | None, code: str, what: str) -> Segment:
    if seg is None:
        raise BrokenTransaction(code, f"the transaction has no {what} segment")
    return seg


def _first(txn: Transaction, tag: str) -> Segment | None:
    return next((s for s in txn.segments if s.tag == tag), None)


# -- X12 ----------------------------------------------------------------------------------------


def _x12_po1(seg: Segment) -> Record:
    return {
        "line_number": seg.get(1),
        "quantity": _number(seg.get(2)),
        "unit": seg.get(3),
        "unit_price": _number(seg.get(4)),
        **_item_ids(_x12_pairs(seg, 6)),
    }


def x12_850(txn: Transaction) -> list[Record]:
    """Records of an 850 purchase order, one per PO1 line (module docstring).

    Raises:
        BrokenTransaction: ``missing_beg``, ``missing_po_number``, ``no_po_lines``.
    """
    beg = _require(_first(txn, "BEG"), "missing_beg", "BEG")
    if not beg.get(3):
        raise BrokenTransaction("missing_po_number", "BEG03 (PO number) is empty")
    header: Record = {
        "po_purpose_code": beg.get(1),
        "po_number": beg.get(3),
        "po_date": edi_date(beg.get(5)),
        "buyer_id": None,
        "seller_id": None,
        "ship_to_id": None,
        "ship_to_name": None,
        "currency": None,
        "requested_delivery_date": None,
    }
    lines: list[Record] = []
    for seg in txn.segments:
        target = lines[-1] if lines else header
        if seg.tag == "CUR":
            header["currency"] = seg.get(2)
        elif seg.tag == "N1" and not lines:
            party = seg.get(1)
            if party == "BY":
                header["buyer_id"] = seg.get(4)
            elif party in ("SE", "SU", "VN"):
                header["seller_id"] = seg.get(4)
            elif party == "ST":
                header["ship_to_id"], header["ship_to_name"] = seg.get(4), seg.get(2)
        elif seg.tag == "DTM" and seg.get(1) == "002":
            target["requested_delivery_date"] = edi_date(seg.get(2))
        elif seg.tag == "PO1":
            lines.append(_x12_po1(seg))
    if not lines:
        raise BrokenTransaction("no_po_lines", "the purchase order has no PO1 line")
    return [{**header, **line} for line in lines]


def _only_set(record: Record, *keys: str) -> Record:
    return {k: record[k] for k in keys if record.get(k) is not None}


def x12_855(txn: Transaction) -> list[Record]:
    """Records of an 855 PO acknowledgment, one per ACK line (module docstring).

    Raises:
        BrokenTransaction: ``missing_bak``, ``missing_po_number``.
    """
    bak = _require(_first(txn, "BAK"), "missing_bak", "BAK")
    if not bak.get(3):
        raise BrokenTransaction("missing_po_number", "BAK03 (PO number) is empty")
    header: Record = {
        "po_purpose_code": bak.get(1),
        "ack_type": bak.get(2),
        "po_number": bak.get(3),
        "po_date": edi_date(bak.get(4)),
        "seller_order_number": bak.get(8),
        "ack_date": edi_date(bak.get(9)),
    }
    empty_line: Record = {
        "line_number": None,
        "ordered_quantity": None,
        "unit": None,
        "unit_price": None,
        "buyer_item_number": None,
        "vendor_part_number": None,
        "gtin": None,
        "line_status": None,
        "acknowledged_quantity": None,
        "scheduled_date_qualifier": None,
        "scheduled_date": None,
    }
    records: list[Record] = []
    line: Record | None = None
    line_acks = 0
    for seg in txn.segments:
        if seg.tag == "PO1":
            if line is not None and line_acks == 0:
                records.append(line)
            po1 = _x12_po1(seg)
            po1["ordered_quantity"] = po1.pop("quantity")
            line, line_acks = {**empty_line, **po1}, 0
        elif seg.tag == "ACK" and line is not None:
            records.append(
                {
                    **line,
                    "line_status": seg.get(1),
                    "acknowledged_quantity": _number(seg.get(2)),
                    "unit": seg.get(3) or line["unit"],
                    "scheduled_date_qualifier": seg.get(4),
                    "scheduled_date": edi_date(seg.get(5)),
                }
            )
            line_acks += 1
    if line is not None and line_acks == 0:
        records.append(line)
    return [{**header, **r} for r in records] or [{**header, **empty_line}]


SHIP_NOTICE_LINE: Record = {
    "po_number": None,
    "package_id": None,
    "line_number": None,
    "buyer_item_number": None,
    "vendor_part_number": None,
    "gtin": None,
    "shipped_quantity": None,
    "unit": None,
}


def x12_856(txn: Transaction) -> list[Record]:
    """Records of an 856 ship notice, one per item (module docstring).

    Raises:
        BrokenTransaction: ``missing_bsn``, ``missing_shipment_id``.
    """
    bsn = _require(_first(txn, "BSN"), "missing_bsn", "BSN")
    if not bsn.get(2):
        raise BrokenTransaction("missing_shipment_id", "BSN02 (shipment id) is empty")
    header: Record = {
        "shipment_id": bsn.get(2),
        "asn_date": edi_date(bsn.get(3)),
        "ship_date": None,
        "estimated_delivery_date": None,
        "carrier_code": None,
        "transport_method": None,
        "bill_of_lading_number": None,
        "tracking_number": None,
        "container_number": None,
    }
    context: Record = {"po_number": None, "package_id": None}
    items: list[Record] = []
    item: Record | None = None
    for seg in txn.segments:
        tag = seg.tag
        if tag == "HL":
            level = seg.get(3)
            if level == "O":
                context = {"po_number": None, "package_id": None}
            elif level in ("P", "T"):
                context["package_id"] = None
            item = None
            if level == "I":
                item = {**SHIP_NOTICE_LINE, **context}
                items.append(item)
        elif tag == "TD5":
            header["carrier_code"] = header["carrier_code"] or seg.get(3)
            header["transport_method"] = header["transport_method"] or seg.get(4)
        elif tag == "TD3":
            number = "".join(p for p in (seg.get(2), seg.get(3)) if p)
            header["container_number"] = header["container_number"] or number or None
        elif tag == "REF" and seg.get(1) == "BM":
            header["bill_of_lading_number"] = seg.get(2)
        elif tag == "REF" and seg.get(1) == "CN":
            header["tracking_number"] = seg.get(2)
        elif tag == "DTM" and seg.get(1) == "011":
            header["ship_date"] = edi_date(seg.get(2))
        elif tag == "DTM" and seg.get(1) == "017":
            header["estimated_delivery_date"] = edi_date(seg.get(2))
        elif tag == "PRF":
            context["po_number"] = seg.get(1)
        elif tag == "MAN" and seg.get(1) == "GM":
            context["package_id"] = seg.get(2)
        elif tag in ("LIN", "SN1"):
            if item is None:  # items without HL loops
                item = {**SHIP_NOTICE_LINE, **context}
                items.append(item)
            if tag == "LIN":
                item["line_number"] = item["line_number"] or seg.get(1)
                item.update(_only_set(_item_ids(_x12_pairs(seg, 2)), *_ID_COLUMNS))
            else:
                item["line_number"] = item["line_number"] or seg.get(1)
                item["shipped_quantity"] = _number(seg.get(2))
                item["unit"] = seg.get(3)
    return [{**header, **it} for it in items] or [{**header, **SHIP_NOTICE_LINE, **context}]


# -- EDIFACT ------------------------------------------------------------------------------------


def _dtm(seg: Segment) -> tuple[str | None, str | None]:
    return seg.get(1, 1), edi_date(seg.get(1, 2))


def _pia_ids(seg: Segment) -> list[tuple[str | None, str | None]]:
    return [(seg.get(i, 2), seg.get(i, 1)) for i in range(2, len(seg.elements) + 1)]


def _lin_ids(seg: Segment) -> list[tuple[str | None, str | None]]:
    return [(seg.get(3, 2), seg.get(3, 1))]


def edifact_orders(txn: Transaction) -> list[Record]:
    """Records of an ORDERS message, one per LIN (module docstring).

    Raises:
        BrokenTransaction: ``missing_bgm``, ``missing_po_number``, ``no_po_lines``.
    """
    bgm = _require(_first(txn, "BGM"), "missing_bgm", "BGM")
    if not bgm.get(2):
        raise BrokenTransaction("missing_po_number", "BGM 1004 (PO number) is empty")
    header: Record = {
        "po_purpose_code": bgm.get(3),
        "po_number": bgm.get(2),
        "po_date": None,
        "buyer_id": None,
        "seller_id": None,
        "ship_to_id": None,
        "ship_to_name": None,
        "currency": None,
        "requested_delivery_date": None,
    }
    lines: list[Record] = []
    for seg in txn.segments:
        target = lines[-1] if lines else header
        if seg.tag == "DTM":
            qualifier, date = _dtm(seg)
            if qualifier == "137" and not lines:
                header["po_date"] = date
            elif qualifier == "2":
                target["requested_delivery_date"] = date
        elif seg.tag == "NAD" and not lines:
            party = seg.get(1)
            if party == "BY":
                header["buyer_id"] = seg.get(2)
            elif party in ("SU", "SE"):
                header["seller_id"] = seg.get(2)
            elif party in ("ST", "DP"):
                header["ship_to_id"], header["ship_to_name"] = seg.get(2), seg.get(4)
        elif seg.tag == "CUX":
            header["currency"] = seg.get(1, 2)
        elif seg.tag == "LIN":
            lines.append(
                {
                    "line_number": seg.get(1),
                    "quantity": None,
                    "unit": None,
                    "unit_price": None,
                    **_item_ids(_lin_ids(seg)),
                }
            )
        elif seg.tag == "PIA" and lines:
            lines[-1].update(_only_set(_item_ids(_pia_ids(seg)), *_ID_COLUMNS))
        elif seg.tag == "QTY" and lines and seg.get(1) == "21":
            lines[-1]["quantity"] = _number(seg.get(1, 2))
            lines[-1]["unit"] = seg.get(1, 3)
        elif seg.tag == "PRI" and lines and seg.get(1) in ("AAA", "AAB"):
            lines[-1]["unit_price"] = _number(seg.get(1, 2))
    if not lines:
        raise BrokenTransaction("no_po_lines", "the purchase order has no LIN line")
    return [{**header, **line} for line in lines]


def edifact_ordrsp(txn: Transaction) -> list[Record]:
    """Records of an ORDRSP message, one per LIN (a header record if none).

    Raises:
        BrokenTransaction: ``missing_bgm``, ``missing_po_number`` (no RFF+ON).
    """
    bgm = _require(_first(txn, "BGM"), "missing_bgm", "BGM")
    header: Record = {
        "po_purpose_code": None,
        "ack_type": bgm.get(3),
        "po_number": None,
        "po_date": None,
        "seller_order_number": bgm.get(2),
        "ack_date": None,
    }
    empty_line: Record = {
        "line_number": None,
        "ordered_quantity": None,
        "unit": None,
        "unit_price": None,
        "buyer_item_number": None,
        "vendor_part_number": None,
        "gtin": None,
        "line_status": None,
        "acknowledged_quantity": None,
        "scheduled_date_qualifier": None,
        "scheduled_date": None,
    }
    lines: list[Record] = []
    after_on = False
    for seg in txn.segments:
        if seg.tag == "RFF":
            after_on = seg.get(1) == "ON" and not lines
            if after_on:
                header["po_number"] = seg.get(1, 2)
        elif seg.tag == "DTM":
            qualifier, date = _dtm(seg)
            if lines and qualifier in ("2", "10", "67", "69"):
                lines[-1]["scheduled_date_qualifier"] = qualifier
                lines[-1]["scheduled_date"] = date
            elif qualifier == "137" and not lines:
                header["ack_date"] = date
            elif qualifier == "171" and after_on:
                header["po_date"] = date
        elif seg.tag == "LIN":
            lines.append(
                {
                    **empty_line,
                    "line_number": seg.get(1),
                    "line_status": seg.get(2),
                    **_only_set(_item_ids(_lin_ids(seg)), *_ID_COLUMNS),
                }
            )
        elif seg.tag == "PIA" and lines:
            lines[-1].update(_only_set(_item_ids(_pia_ids(seg)), *_ID_COLUMNS))
        elif seg.tag == "QTY" and lines:
            if seg.get(1) == "21":
                lines[-1]["ordered_quantity"] = _number(seg.get(1, 2))
                lines[-1]["unit"] = lines[-1]["unit"] or seg.get(1, 3)
            elif seg.get(1) in ("113", "12"):
                lines[-1]["acknowledged_quantity"] = _number(seg.get(1, 2))
                lines[-1]["unit"] = lines[-1]["unit"] or seg.get(1, 3)
        elif seg.tag == "PRI" and lines and seg.get(1) in ("AAA", "AAB"):
            lines[-1]["unit_price"] = _number(seg.get(1, 2))
    if not header["po_number"]:
        raise BrokenTransaction("missing_po_number", "no RFF+ON (order number) in the header")
    return [{**header, **line} for line in lines] or [{**header, **empty_line}]


def edifact_desadv(txn: Transaction) -> list[Record]:
    """Records of a DESADV message, one per LIN (a header record if none).

    Raises:
        BrokenTransaction: ``missing_bgm``, ``missing_shipment_id``.
    """
    bgm = _require(_first(txn, "BGM"), "missing_bgm", "BGM")
    if not bgm.get(2):
        raise BrokenTransaction("missing_shipment_id", "BGM 1004 (despatch number) is empty")
    header: Record = {
        "shipment_id": bgm.get(2),
        "asn_date": None,
        "ship_date": None,
        "estimated_delivery_date": None,
        "carrier_code": None,
        "transport_method": None,
        "bill_of_lading_number": None,
        "tracking_number": None,
        "container_number": None,
    }
    context: Record = {"po_number": None, "package_id": None}
    items: list[Record] = []
    for seg in txn.segments:
        tag = seg.tag
        if tag == "DTM":
            qualifier, date = _dtm(seg)
            if qualifier == "137":
                header["asn_date"] = date
            elif qualifier == "11":
                header["ship_date"] = date
            elif qualifier in ("17", "132"):
                header["estimated_delivery_date"] = date
        elif tag == "RFF":
            qualifier, value = seg.get(1), seg.get(1, 2)
            if qualifier == "ON":
                if items:
                    items[-1]["po_number"] = value
                else:
                    context["po_number"] = value
            elif qualifier == "BM":
                header["bill_of_lading_number"] = value
            elif qualifier == "CN":
                header["tracking_number"] = value
        elif tag == "TDT":
            header["transport_method"] = header["transport_method"] or seg.get(3)
            header["carrier_code"] = header["carrier_code"] or seg.get(5) or seg.get(5, 4)
        elif tag == "EQD" and seg.get(1) == "CN":
            header["container_number"] = header["container_number"] or seg.get(2)
        elif tag == "CPS":
            context["package_id"] = None
        elif tag == "GIN" and seg.get(1) == "BJ":
            context["package_id"] = seg.get(2)
        elif tag == "LIN":
            items.append(
                {
                    **SHIP_NOTICE_LINE,
                    **context,
                    "line_number": seg.get(1),
                    **_only_set(_item_ids(_lin_ids(seg)), *_ID_COLUMNS),
                }
            )
        elif tag == "PIA" and items:
            items[-1].update(_only_set(_item_ids(_pia_ids(seg)), *_ID_COLUMNS))
        elif tag == "QTY" and items and seg.get(1) == "12":
            items[-1]["shipped_quantity"] = _number(seg.get(1, 2))
            items[-1]["unit"] = seg.get(1, 3)
    return [{**header, **it} for it in items] or [{**header, **SHIP_NOTICE_LINE, **context}]


# transaction set / message type → (entity, record builder)
MAPPERS: dict[str, tuple[str, Callable[[Transaction], list[Record]]]] = {
    "850": ("purchase_orders", x12_850),
    "ORDERS": ("purchase_orders", edifact_orders),
    "855": ("po_acknowledgments", x12_855),
    "ORDRSP": ("po_acknowledgments", edifact_ordrsp),
    "856": ("ship_notices", x12_856),
    "DESADV": ("ship_notices", edifact_desadv),
}
