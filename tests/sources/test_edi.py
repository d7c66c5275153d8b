"""EDI landing on a real DuckLake: the real X12 850 sample, hand-made 855/856 and EDIFACT
ORDERS/ORDRSP/DESADV, envelope and transaction defects, 997/CONTRL files, replay.

Files are landed with ``land_entity`` as the ingestion assets do (no Dagster job); the last test
builds the purchase-order and shipment-milestone marts with dbt on the landed EDI.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.sources.erp_support import build_purchase_order_marts
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect, ensure_tables, run
from traceloom_pipelines.sources.catalog import all_entities
from traceloom_pipelines.sources.edi.contract import (
    po_acknowledgments,
    purchase_orders,
    ship_notices,
)
from traceloom_pipelines.sources.edi.envelope import ISA_LENGTH, read_x12

REAL_850 = Path("/work/shared/real-samples/x12_850_indice_basic.edi")
if not REAL_850.exists():  # a checkout next to ../shared
    REAL_850 = Path(__file__).resolve().parents[3] / "shared/real-samples/x12_850_indice_basic.edi"


@pytest.fixture
def con(tmp_path):
    connection = connect(tmp_path)
    yield connection
    connection.close()


def _drop(root: Path, entity: str, name: str, text: str, tenant: str = "acme") -> Path:
    folder = root / "landing" / tenant / "edi" / entity
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _quarantine(con, entity: str) -> list[tuple[str, list[str]]]:
    rows = run(
        con,
        "select source_file, failed_checks from audit.quarantine where entity = ? "
        "order by source_file, source_row",
        [entity],
    )
    return [(f.rsplit("/", 1)[-1], checks) for f, checks in rows]


def _isa(sender: str, receiver: str, control: str) -> str:
    isa = (
        f"ISA*00*{'':10}*00*{'':10}*ZZ*{sender:<15}*ZZ*{receiver:<15}*260301*1200*U*00401*"
        f"{control}*0*P*>~"
    )
    assert len(isa) == ISA_LENGTH
    return isa


def _x12(
    functional_id: str,
    transactions: list[tuple[str, str, list[str]]],
    *,
    sender: str = "SUPPLIERA",
    control: str = "000000101",
    se_counts: dict[str, int] | None = None,
) -> str:
    """An interchange with one group; SE01 counted unless ``se_counts[ST02]`` says otherwise."""
    lines = [_isa(sender, "TRACELOOM", control)]
    lines.append(f"GS*{functional_id}*{sender}*TRACELOOM*20260301*1200*7*X*004010~")
    for set_id, st02, body in transactions:
        count = (se_counts or {}).get(st02, len(body) + 2)
        lines += [f"ST*{set_id}*{st02}~", *(f"{s}~" for s in body), f"SE*{count}*{st02}~"]
    lines += [f"GE*{len(transactions)}*7~", f"IEA*1*{control}~"]
    return "\n".join(lines) + "\n"


def _outbound(root: Path, tenant: str, partner: str) -> list[Path]:
    folder = root / "edi" / "outbound" / tenant / partner
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_x12_reader_takes_separators_from_the_fixed_width_isa():
    text = REAL_850.read_text().replace("*", "|").replace("~", "\n").replace(">", "^")
    (interchange,) = read_x12(text)
    assert interchange.separators[:3] == ("|", "^", "\n")
    (txn,) = interchange.groups[0].transactions
    assert [s.tag for s in txn.segments][:3] == ["BEG", "REF", "CSH"]
    assert txn.segments[-2].get(7) == "0054321"  # PO107


def test_real_850_lands_its_line_and_quarantines_only_the_envelope_defect(tmp_path, con):
    shutil.copy(REAL_850, tmp_path / "x.edi")
    folder = tmp_path / "landing" / "acme" / "edi" / "purchase_orders"
    folder.mkdir(parents=True)
    shutil.copy(REAL_850, folder / REAL_850.name)

    result = land_entity(con, purchase_orders, tmp_path / "landing")

    total = result.total
    assert (total.rows_read, total.rows_landed, total.rows_quarantined) == (2, 1, 1)
    assert total.balanced
    landed = run(
        con,
        "select tenant_id, edi_standard, message_type, partner_id, partner_id_qualifier, "
        "receiver_id, interchange_control_number, group_control_number, "
        "transaction_control_number, po_number, po_date, ship_to_name, line_number, quantity, "
        "unit, unit_price, vendor_part_number, buyer_item_number, _envelope, _transaction "
        "from raw.edi__purchase_orders",
    )
    assert landed == [
        (
            "acme",
            "X12",
            "850",
            "000123456",
            "01",
            "PARTNERID",
            "000000055",
            "2",
            "0003",
            "1000012",
            date(2009, 8, 27),
            "John Doe",
            "1",
            1.0,
            "EA",
            19.95,
            "0054321",
            None,
            None,
            None,
        )
    ]
    assert _quarantine(con, "purchase_orders") == [
        (REAL_850.name, ["_envelope:iea_control_number_mismatch"])
    ]
    (record,) = run(con, "select record::json->>'detail' from audit.quarantine")
    assert record == ("IEA02 000000001 does not match ISA13 000000055",)

    # the 997 for the sender: TA1 reports the interchange defect, the 850 is accepted
    (ack,) = _outbound(tmp_path, "acme", "000123456")
    assert ack.name.startswith("997_000000055_") and ack.suffix == ".x12"
    segments = ack.read_text().split("~\n")
    assert segments[0][:3] == "ISA" and len(segments[0]) + 1 == ISA_LENGTH
    assert segments[0].split("*")[6].strip() == "PARTNERID"  # we answer as the receiver
    assert segments[0].split("*")[8].strip() == "000123456"
    assert segments[1] == "TA1*000000055*090827*0936*E*001"
    ack_control = segments[0].split("*")[13]
    assert segments[2].split("*")[6] == str(int(ack_control))  # GS06
    assert segments[3:9] == [
        "ST*997*0001",
        "AK1*PO*2",
        "AK2*850*0003",
        "AK5*A",
        "AK9*A*1*1*1",
        "SE*6*0001",
    ]
    assert segments[9:11] == [f"GE*1*{int(ack_control)}", f"IEA*1*{ack_control}"]

    # replay: the same file is skipped; the same interchange under another name is duplicates
    again = land_entity(con, purchase_orders, tmp_path / "landing")
    assert again.files_skipped == [f"acme/edi/purchase_orders/{REAL_850.name}"]
    shutil.copy(REAL_850, folder / "resent.edi")
    resent = land_entity(con, purchase_orders, tmp_path / "landing").total
    assert (resent.rows_read, resent.rows_landed, resent.rows_duplicate) == (2, 0, 2)
    assert run(con, "select count(*) from raw.edi__purchase_orders") == [(1,)]
    assert run(con, "select count(*) from audit.quarantine") == [(1,)]
    assert len(_outbound(tmp_path, "acme", "000123456")) == 1  # same interchange, same ack


PO_ACK_855 = [
    "BAK*00*AC*PO-7781*20260220****SO-5512*20260221",
    "PO1*1*100*EA*4.25**BP*BX-100*VP*VN-100",
    "ACK*IA*80*EA*068*20260310",
    "ACK*IB*20*EA*068*20260331",
    "PO1*2*50*EA*7.5**VP*VN-200",
    "ACK*IR*0*EA",
]
SHIP_NOTICE_856 = [
    "BSN*00*ASN-9001*20260305*1400",
    "HL*1**S",
    "TD1*CTN25*3",
    "TD5**2*MAEU*M",
    "TD3*CN*MSKU*1234565",
    "REF*BM*BOL-123",
    "REF*CN*TRK-777",
    "DTM*011*20260305",
    "DTM*017*20260402",
    "HL*2*1*O",
    "PRF*PO-7781***20260220",
    "HL*3*2*P",
    "MAN*GM*00012345600000000017",
    "HL*4*3*I",
    "LIN*1*BP*BX-100*VP*VN-100",
    "SN1*1*80*EA",
    "HL*5*3*I",
    "LIN*2*VP*VN-200*UP*012345678905",
    "SN1*2*10*EA",
]


def test_x12_855_and_856_land_their_lines(tmp_path, con):
    _drop(tmp_path, "po_acknowledgments", "ack.x12", _x12("PR", [("855", "0001", PO_ACK_855)]))
    _drop(tmp_path, "ship_notices", "asn.edi", _x12("SH", [("856", "0001", SHIP_NOTICE_856)]))

    acks = land_entity(con, po_acknowledgments, tmp_path / "landing").total
    asns = land_entity(con, ship_notices, tmp_path / "landing").total

    assert (acks.rows_read, acks.rows_landed, acks.rows_quarantined) == (3, 3, 0)
    assert run(
        con,
        "select partner_id, po_number, po_date, ack_type, seller_order_number, ack_date, "
        "line_number, buyer_item_number, vendor_part_number, ordered_quantity, unit_price, "
        "line_status, acknowledged_quantity, scheduled_date from raw.edi__po_acknowledgments "
        "order by line_sequence",
    ) == [
        ("SUPPLIERA", "PO-7781", date(2026, 2, 20), "AC", "SO-5512", date(2026, 2, 21), "1",
         "BX-100", "VN-100", 100.0, 4.25, "IA", 80.0, date(2026, 3, 10)),
        ("SUPPLIERA", "PO-7781", date(2026, 2, 20), "AC", "SO-5512", date(2026, 2, 21), "1",
         "BX-100", "VN-100", 100.0, 4.25, "IB", 20.0, date(2026, 3, 31)),
        ("SUPPLIERA", "PO-7781", date(2026, 2, 20), "AC", "SO-5512", date(2026, 2, 21), "2",
         None, "VN-200", 50.0, 7.5, "IR", 0.0, None),
    ]  # fmt: skip
    assert (asns.rows_read, asns.rows_landed, asns.rows_quarantined) == (2, 2, 0)
    assert run(
        con,
        "select shipment_id, asn_date, ship_date, estimated_delivery_date, carrier_code, "
        "transport_method, bill_of_lading_number, tracking_number, container_number, po_number, "
        "package_id, line_number, buyer_item_number, vendor_part_number, gtin, "
        "shipped_quantity, unit from raw.edi__ship_notices order by line_sequence",
    ) == [
        ("ASN-9001", date(2026, 3, 5), date(2026, 3, 5), date(2026, 4, 2), "MAEU", "M",
         "BOL-123", "TRK-777", "MSKU1234565", "PO-7781", "00012345600000000017", "1", "BX-100",
         "VN-100", None, 80.0, "EA"),
        ("ASN-9001", date(2026, 3, 5), date(2026, 3, 5), date(2026, 4, 2), "MAEU", "M",
         "BOL-123", "TRK-777", "MSKU1234565", "PO-7781", "00012345600000000017", "2", None,
         "VN-200", "012345678905", 10.0, "EA"),
    ]  # fmt: skip
    (ack_855,) = _outbound(tmp_path, "acme", "SUPPLIERA")[:1]
    assert "AK1*PR*7~\nAK2*855*0001~\nAK5*A~\nAK9*A*1*1*1~" in ack_855.read_text()


PO_850 = [
    "BEG*00*SA*PO-1001**20260301",
    "CUR*BY*USD",
    "N1*BY*Nordic Outdoor*92*BUY-01",
    "N1*SE*Shenzhen Knit*92*SUP-001",
    "DTM*002*20260415",
    "PO1*1*1200*EA*18.5**BP*MCS-NVY-M*VP*K-100",
    "PO1*2*300*EA*18.5**BP*MCS-NVY-L",
    "DTM*002*20260420",
    "CTT*2",
]


def test_envelope_and_transaction_defects_are_quarantined_with_their_reasons(tmp_path, con):
    text = _x12(
        "PO",
        [
            ("850", "0001", PO_850),  # SE01 off by one: lands, the defect is quarantined
            ("810", "0002", ["BIG*20260301*INV-1"]),  # an invoice: not an EDI entity here
            ("850", "0003", ["REF*PO*X", "PO1*1*1*EA*1"]),  # no BEG
            ("856", "0004", SHIP_NOTICE_856),  # belongs in ship_notices
            ("850", "0005", ["BEG*00*SA*PO-1002**20260302"]),  # no PO1 line
        ],
        se_counts={"0001": 99},
    )
    _drop(tmp_path, "purchase_orders", "mixed.edi", text)
    _drop(tmp_path, "purchase_orders", "cut.edi", text.split("SE*99")[0])  # cut off mid-set
    _drop(tmp_path, "purchase_orders", "notes.edi", "Dear partner, please find attached")

    result = land_entity(con, purchase_orders, tmp_path / "landing")

    total = result.total
    assert total.balanced
    assert (total.rows_read, total.rows_landed, total.rows_quarantined) == (11, 2, 9)
    assert _quarantine(con, "purchase_orders") == [
        ("cut.edi", ["_envelope:iea_missing"]),
        ("cut.edi", ["_envelope:ge_missing"]),
        ("cut.edi", ["_transaction:se_missing"]),
        ("mixed.edi", ["_envelope:se_segment_count_mismatch"]),
        ("mixed.edi", ["_transaction:unknown_transaction_set"]),
        ("mixed.edi", ["_transaction:missing_beg"]),
        ("mixed.edi", ["_transaction:other_entity_transaction_set"]),
        ("mixed.edi", ["_transaction:no_po_lines"]),
        ("notes.edi", ["_file:unreadable"]),
    ]
    assert run(
        con,
        "select po_number, po_date, buyer_id, seller_id, currency, line_number, "
        "buyer_item_number, vendor_part_number, quantity, unit_price, requested_delivery_date "
        "from raw.edi__purchase_orders order by line_sequence",
    ) == [
        ("PO-1001", date(2026, 3, 1), "BUY-01", "SUP-001", "USD", "1", "MCS-NVY-M", "K-100",
         1200.0, 18.5, date(2026, 4, 15)),
        ("PO-1001", date(2026, 3, 1), "BUY-01", "SUP-001", "USD", "2", "MCS-NVY-L", None,
         300.0, 18.5, date(2026, 4, 20)),
    ]  # fmt: skip
    # a rejected transaction keeps every segment in its quarantine row
    (segments,) = run(
        con,
        "select record::json->'segments' from audit.quarantine "
        "where list_contains(failed_checks, '_transaction:missing_beg')",
    )[0]
    assert segments == '["ST*850*0003","REF*PO*X","PO1*1*1*EA*1","SE*4*0003"]'

    # one 997 per interchange: the cut-off copy has the same ISA13 but its own file
    acks = [p.read_text() for p in _outbound(tmp_path, "acme", "SUPPLIERA")]
    assert len(acks) == 2
    (mixed,) = [a for a in acks if "AK2*810" in a]
    assert "AK2*850*0001~\nAK5*E*4~" in mixed
    assert "AK2*810*0002~\nAK5*R*1~" in mixed
    assert "AK2*850*0003~\nAK5*R*5~" in mixed
    assert "AK2*856*0004~\nAK5*R*1~" in mixed
    assert "AK9*P*5*5*1~" in mixed
    (cut,) = [a for a in acks if a is not mixed]
    assert "TA1*000000101*260301*1200*E*023~" in cut
    assert "AK2*850*0001~\nAK5*R*2~\nAK9*R*1*1*0*3~" in cut


ORDERS = (
    "UNA:+.? '"
    "UNB+UNOC:3+5790000000012:14+5790000000029:14+260301:1200+REF77'"
    "UNH+1+ORDERS:D:96A:UN'"
    "BGM+220+PO?+9001+9'"
    "DTM+137:20260301:102'"
    "DTM+2:20260420:102'"
    "NAD+BY+5790000000012::9'"
    "NAD+SU+5790000000029::9'"
    "CUX+2:EUR:9'"
    "LIN+1++4000862141404:EN'"
    "PIA+1+K-200:SA+BX-200:IN'"
    "QTY+21:48:PCE'"
    "PRI+AAA:9,5'"
    "UNS+S'"
    "UNT+13+1'"
    "UNH+2+INVOIC:D:96A:UN'"
    "BGM+380+INV-1+9'"
    "UNT+3+2'"
    "UNZ+2+REF77'"
)
ORDRSP = (
    "UNB+UNOC:3+5790000000029:14+5790000000012:14+260302:0900+R55'"
    "UNH+1+ORDRSP:D:96A:UN'"
    "BGM+231+RSP-1+4'"
    "DTM+137:20260302:102'"
    "RFF+ON:PO?+9001'"
    "DTM+171:20260301:102'"
    "LIN+1+5+4000862141404:EN'"
    "QTY+21:48:PCE'"
    "QTY+113:40:PCE'"
    "DTM+2:20260425:102'"
    "UNT+10+1'"
    "UNZ+1+R55'"
)
DESADV = (
    "UNB+UNOC:3+5790000000029:14+5790000000012:14+260310:0800+D1'"
    "UNH+1+DESADV:D:96A:UN'"
    "BGM+351+DES-42+9'"
    "DTM+137:20260310:102'"
    "DTM+11:20260311:102'"
    "DTM+132:20260405:102'"
    "RFF+ON:PO?+9001'"
    "RFF+CN:TRK-1'"
    "TDT+20++1++MAEU:172:ZZZ'"
    "EQD+CN+MSKU7654321'"
    "CPS+1'"
    "PAC+1++CT'"
    "GIN+BJ+00012345600000000024'"
    "LIN+1++4000862141404:EN'"
    "PIA+1+K-200:SA'"
    "QTY+12:40:PCE'"
    "UNT+99+1'"
    "UNZ+1+D1'"
)


def test_edifact_orders_ordrsp_desadv_land_and_get_a_contrl(tmp_path, con):
    _drop(tmp_path, "purchase_orders", "orders.edifact", ORDERS)
    _drop(tmp_path, "po_acknowledgments", "ordrsp.edi", ORDRSP)
    _drop(tmp_path, "ship_notices", "desadv.edi", DESADV)

    orders = land_entity(con, purchase_orders, tmp_path / "landing").total
    ordrsp = land_entity(con, po_acknowledgments, tmp_path / "landing").total
    desadv = land_entity(con, ship_notices, tmp_path / "landing").total

    assert (orders.rows_read, orders.rows_landed, orders.rows_quarantined) == (2, 1, 1)
    assert run(
        con,
        "select edi_standard, message_type, partner_id, partner_id_qualifier, "
        "interchange_control_number, group_control_number, transaction_control_number, "
        "po_number, po_date, buyer_id, seller_id, currency, line_number, gtin, "
        "vendor_part_number, buyer_item_number, quantity, unit, unit_price, "
        "requested_delivery_date from raw.edi__purchase_orders",
    ) == [
        ("EDIFACT", "ORDERS", "5790000000012", "14", "REF77", None, "1", "PO+9001",
         date(2026, 3, 1), "5790000000012", "5790000000029", "EUR", "1", "4000862141404",
         "K-200", "BX-200", 48.0, "PCE", 9.5, date(2026, 4, 20)),
    ]  # fmt: skip
    assert (ordrsp.rows_landed, ordrsp.rows_quarantined) == (1, 0)
    assert run(
        con,
        "select partner_id, po_number, po_date, ack_type, seller_order_number, ack_date, "
        "line_number, line_status, ordered_quantity, acknowledged_quantity, unit, "
        "scheduled_date from raw.edi__po_acknowledgments",
    ) == [
        ("5790000000029", "PO+9001", date(2026, 3, 1), "4", "RSP-1", date(2026, 3, 2), "1",
         "5", 48.0, 40.0, "PCE", date(2026, 4, 25)),
    ]  # fmt: skip
    assert (desadv.rows_landed, desadv.rows_quarantined) == (1, 1)
    assert run(
        con,
        "select shipment_id, asn_date, ship_date, estimated_delivery_date, carrier_code, "
        "container_number, tracking_number, po_number, package_id, line_number, gtin, "
        "vendor_part_number, shipped_quantity, unit from raw.edi__ship_notices",
    ) == [
        ("DES-42", date(2026, 3, 10), date(2026, 3, 11), date(2026, 4, 5), "MAEU",
         "MSKU7654321", "TRK-1", "PO+9001", "00012345600000000024", "1", "4000862141404",
         "K-200", 40.0, "PCE"),
    ]  # fmt: skip
    assert _quarantine(con, "purchase_orders") == [
        ("orders.edifact", ["_transaction:unknown_transaction_set"])
    ]
    assert _quarantine(con, "ship_notices") == [
        ("desadv.edi", ["_envelope:unt_segment_count_mismatch"])
    ]

    (contrl,) = _outbound(tmp_path, "acme", "5790000000012")
    assert contrl.name.startswith("CONTRL_REF77_")
    lines = contrl.read_text().splitlines()
    assert lines[0].startswith("UNB+UNOC:3+5790000000029:14+5790000000012:14+")
    assert lines[1:6] == [
        "UNH+1+CONTRL:D:3:UN'",
        "UCI+REF77+5790000000012:14+5790000000029:14+7'",
        "UCM+1+ORDERS:D:96A:UN+7'",
        "UCM+2+INVOIC:D:96A:UN+4+17'",
        "UNT+5+1'",
    ]
    texts = [p.read_text() for p in _outbound(tmp_path, "acme", "5790000000029")]
    assert any("UCM+1+DESADV:D:96A:UN+7+29'" in t for t in texts)

    # replay of every drop lands nothing new
    for entity in (purchase_orders, po_acknowledgments, ship_notices):
        assert land_entity(con, entity, tmp_path / "landing").files_ingested == []
    assert run(con, "select count(*) from audit.quarantine") == [(2,)]


# -- the EDI route in the canonical marts (dbt) ------------------------------------------------


def _erp_drop_po(po_id: str, updated: str) -> dict:
    """A drop-route ERP PO (000 §2.1 shape) with two lines."""
    return {
        "poId": po_id,
        "revision": 3,
        "poStatus": "open",
        "updatedAt": updated,
        "customer": "Nordic Outdoor",
        "supplier": "Shenzhen Knit",
        "factory": "FAC-SZ-01",
        "product": "Merino crew sweater",
        "quantity": 1400,
        "unit": "pcs",
        "price": 18.0,
        "currency": "USD",
        "lineItems": [
            {"lineItemId": f"{po_id}-01", "sku": "MCS-NVY-M", "lineQuantity": 1100},
            {"lineItemId": f"{po_id}-02", "sku": "MCS-NVY-L", "lineQuantity": 300},
        ],
    }


def _ordrsp(ref: str, function: str, number: str, ack_date: str, po: str, lines: list) -> str:
    """An EDIFACT ORDRSP interchange (UNT and UNZ counted) from 5790000000029: BGM 1225
    ``function``, acknowledgment date ``ack_date`` (YYYYMMDD), lines ``(LIN 1229 action,
    ordered, acknowledged)``."""
    body = [
        "UNH+1+ORDRSP:D:96A:UN",
        f"BGM+231+{number}+{function}",
        f"DTM+137:{ack_date}:102",
        f"RFF+ON:{po}",
    ]
    for n, (action, ordered, acknowledged) in enumerate(lines, start=1):
        body += [f"LIN+{n}+{action}", f"QTY+21:{ordered}:PCE", f"QTY+113:{acknowledged}:PCE"]
    body.append(f"UNT+{len(body) + 1}+1")
    unb = f"UNB+UNOC:3+5790000000029:14+5790000000012:14+260306:0900+{ref}"
    return "".join(f"{s}'" for s in (unb, *body, f"UNZ+1+{ref}"))


# 855s of PO-1001 (PO_850): quantities changed on line 1, line 2 split into 200 accepted and 100
# backordered for a later date; the same PO accepted unchanged, with an earlier acknowledgment
# date, in a file landed after it (the acknowledgment date wins over landing order)
ACK_855_CHANGED = [
    "BAK*00*AC*PO-1001*20260301****SO-77*20260302",
    "PO1*1*1200*EA*18.5**BP*MCS-NVY-M",
    "ACK*IQ*1000*EA*068*20260418",
    "PO1*2*300*EA*18.5**BP*MCS-NVY-L",
    "ACK*IA*200*EA*068*20260415",
    "ACK*IB*100*EA*068*20260430",
]
ACK_855_EARLIER = ["BAK*00*AD*PO-1001*20260301****SO-76*20260301"]
ACK_855_REJECTED = ["BAK*00*RJ*PO-1001*20260301****SO-9*20260303"]


@pytest.mark.slow
def test_edi_feeds_the_canonical_purchase_orders_and_shipment_milestones(tmp_path):
    """Issue #16: X12 850 / EDIFACT ORDERS become POs of route `edi` (quantity = sum of the
    lines; a later cancellation wins), their lines PO lines, 856 / DESADV shipment milestones;
    at the same updated_at an ERP route wins over EDI. 855 / ORDRSP give every PO (any route)
    its latest acknowledgment: status, date, and per line the acknowledged quantity and date."""
    ship_notice = [s.replace("PO-7781", "PO-1001") for s in SHIP_NOTICE_856]
    _drop(tmp_path, "purchase_orders", "po.x12", _x12("PO", [("850", "0001", PO_850)]))
    _drop(tmp_path, "purchase_orders", "orders.edifact", ORDERS)
    _drop(tmp_path, "ship_notices", "asn.edi", _x12("SH", [("856", "0001", ship_notice)]))
    _drop(tmp_path, "ship_notices", "desadv.edi", DESADV)
    # the same 850 from another partner's tenant, and also in that tenant's ERP export at the
    # EDI message's updated_at (the interchange date 2026-03-01, midnight UTC): ERP wins
    _drop(tmp_path, "purchase_orders", "po.x12", _x12("PO", [("850", "0001", PO_850)]), "beta")
    erp = tmp_path / "landing" / "beta" / "erp" / "purchase_orders"
    erp.mkdir(parents=True)
    (erp / "export.json").write_text(
        json.dumps([_erp_drop_po("PO-1001", "2026-03-01T00:00:00Z")]), encoding="utf-8"
    )
    # a later interchange (2026-03-05) cancels the PO: the latest transaction wins
    cancellation = [
        "BEG*01*SA*PO-1001**20260301",
        "N1*BY*Nordic Outdoor*92*BUY-01",
        "N1*SE*Shenzhen Knit*92*SUP-001",
        "PO1*1*1200*EA*18.5**BP*MCS-NVY-M",
    ]
    _drop(tmp_path, "purchase_orders", "po.x12", _x12("PO", [("850", "0001", PO_850)]), "gamma")
    cancel = _x12("PO", [("850", "0001", cancellation)], control="000000102")
    cancel = cancel.replace("*260301*", "*260305*")  # ISA09
    _drop(tmp_path, "purchase_orders", "cancel.x12", cancel, "gamma")
    # acknowledgments (issue #16 §1): acme's 850 PO changed by an 855 (and an earlier-dated 855
    # landed later), acme's ORDERS PO changed by an ORDRSP (BGM 4, 48 → 40), beta's ERP PO
    # rejected by an 855 without lines, gamma's PO accepted then rejected by two ORDRSPs of the
    # same date (the later landed wins)
    _drop(tmp_path, "po_acknowledgments", "ack.x12", _x12("PR", [("855", "1", ACK_855_CHANGED)]))
    early = _x12("PR", [("855", "1", ACK_855_EARLIER)], control="000000202")
    _drop(tmp_path, "po_acknowledgments", "ack_early.x12", early)
    _drop(tmp_path, "po_acknowledgments", "ordrsp.edi", ORDRSP)
    rejected = _x12("PR", [("855", "1", ACK_855_REJECTED)], control="000000203")
    _drop(tmp_path, "po_acknowledgments", "reject.x12", rejected, "beta")
    accepted = _ordrsp("G1", "29", "RSP-G1", "20260306", "PO-1001", [("5", 1200, 1200)])
    _drop(tmp_path, "po_acknowledgments", "ordrsp_1.edi", accepted, "gamma")
    refused = _ordrsp("G2", "27", "RSP-G2", "20260306", "PO-1001", [("7", 1200, 0)])
    _drop(tmp_path, "po_acknowledgments", "ordrsp_2.edi", refused, "gamma")
    con = connect(tmp_path)
    try:
        for entity in all_entities():
            if entity.system == "edi" or entity.table == "erp__purchase_orders":
                land_entity(con, entity, tmp_path / "landing")
            elif entity.system in ("erp", "logistics"):
                ensure_tables(con, entity)  # the other sources the marts union: empty
    finally:
        con.close()

    done = build_purchase_order_marts(tmp_path, "fct_shipment_milestones")
    assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout and "WARN=0" in done.stdout, done.stdout[-4000:]

    con = connect(tmp_path, read_only=True)
    try:
        assert run(
            con,
            "select tenant_id, po_id, source_route, revision, po_status, customer, supplier, "
            "product, quantity, unit, unit_price, currency, requested_delivery_date, line_count, "
            "line_quantity_total, updated_at from marts.fct_purchase_orders "
            "order by tenant_id, po_id",
        ) == [
            ("acme", "PO+9001", "edi", 1, "open", "5790000000012", "5790000000029", "BX-200",
             48.0, "pcs", 9.5, "EUR", date(2026, 4, 20), 1, 48.0, datetime(2026, 3, 1, tzinfo=UTC)),
            # 1200 + 300 of the two PO1 lines
            ("acme", "PO-1001", "edi", 1, "open", "BUY-01", "SUP-001", "MCS-NVY-M", 1500.0,
             "pcs", 18.5, "USD", date(2026, 4, 20), 2, 1500.0, datetime(2026, 3, 1, tzinfo=UTC)),
            ("beta", "PO-1001", "drop", 3, "open", "Nordic Outdoor", "Shenzhen Knit",
             "Merino crew sweater", 1400.0, "pcs", 18.0, "USD", None, 2, 1400.0,
             datetime(2026, 3, 1, tzinfo=UTC)),
            ("gamma", "PO-1001", "edi", 2, "cancelled", "BUY-01", "SUP-001", "MCS-NVY-M",
             1200.0, "pcs", 18.5, None, None, 1, 1200.0, datetime(2026, 3, 5, tzinfo=UTC)),
        ]  # fmt: skip
        assert run(
            con,
            "select tenant_id, po_id, line_item_id, line_number, sku, line_quantity, "
            "source_route, item_number, is_deleted from marts.fct_purchase_order_lines "
            "order by tenant_id, po_id, line_number",
        ) == [
            ("acme", "PO+9001", "PO+9001-01", 1, "BX-200", 48.0, "edi", "1", False),
            ("acme", "PO-1001", "PO-1001-01", 1, "MCS-NVY-M", 1200.0, "edi", "1", False),
            ("acme", "PO-1001", "PO-1001-02", 2, "MCS-NVY-L", 300.0, "edi", "2", False),
            ("beta", "PO-1001", "PO-1001-01", 1, "MCS-NVY-M", 1100.0, "drop", None, False),
            ("beta", "PO-1001", "PO-1001-02", 2, "MCS-NVY-L", 300.0, "drop", None, False),
            ("gamma", "PO-1001", "PO-1001-01", 1, "MCS-NVY-M", 1200.0, "edi", "1", False),
        ]
        assert run(
            con,
            "select tenant_id, po_id, ack_status, ack_code, acknowledged_at, "
            "supplier_order_number, ack_partner_id, acknowledgment_count "
            "from marts.fct_purchase_orders order by tenant_id, po_id",
        ) == [
            ("acme", "PO+9001", "accepted_with_changes", "4", datetime(2026, 3, 2, tzinfo=UTC),
             "RSP-1", "5790000000029", 1),
            ("acme", "PO-1001", "accepted_with_changes", "AC", datetime(2026, 3, 2, tzinfo=UTC),
             "SO-77", "SUPPLIERA", 2),
            ("beta", "PO-1001", "rejected", "RJ", datetime(2026, 3, 3, tzinfo=UTC), "SO-9",
             "SUPPLIERA", 1),
            ("gamma", "PO-1001", "rejected", "27", datetime(2026, 3, 6, tzinfo=UTC), "RSP-G2",
             "5790000000029", 2),
        ]  # fmt: skip
        assert run(
            con,
            "select tenant_id, po_id, line_item_id, line_quantity, line_ack_status, "
            "acknowledged_quantity, acknowledged_delivery_date from marts.fct_purchase_order_lines "
            "order by tenant_id, po_id, line_number",
        ) == [
            ("acme", "PO+9001", "PO+9001-01", 48.0, "accepted", 40.0, date(2026, 4, 25)),
            ("acme", "PO-1001", "PO-1001-01", 1200.0, "accepted_with_changes", 1000.0,
             date(2026, 4, 18)),
            ("acme", "PO-1001", "PO-1001-02", 300.0, "accepted_with_changes", 300.0,
             date(2026, 4, 30)),
            # rejected without lines: the lines carry no acknowledgment
            ("beta", "PO-1001", "PO-1001-01", 1100.0, None, None, None),
            ("beta", "PO-1001", "PO-1001-02", 300.0, None, None, None),
            ("gamma", "PO-1001", "PO-1001-01", 1200.0, "rejected", 0.0, None),
        ]  # fmt: skip
        assert run(
            con,
            "select tenant_id, shipment_id, po_id, milestone, classifier, event_at, reported_at, "
            "carrier, container_number, source, source_event_id "
            "from marts.fct_shipment_milestones order by shipment_id, milestone_sequence",
        ) == [
            ("acme", "ASN-9001", "PO-1001", "DEPARTED", "ACT", datetime(2026, 3, 5, tzinfo=UTC),
             datetime(2026, 3, 5, tzinfo=UTC), "MAEU", "MSKU1234565", "edi_ship_notices",
             "SUPPLIERA:000000101:0001"),
            ("acme", "ASN-9001", "PO-1001", "DELIVERED", "EST", datetime(2026, 4, 2, tzinfo=UTC),
             datetime(2026, 3, 5, tzinfo=UTC), "MAEU", "MSKU1234565", "edi_ship_notices",
             "SUPPLIERA:000000101:0001"),
            ("acme", "DES-42", "PO+9001", "DEPARTED", "ACT", datetime(2026, 3, 11, tzinfo=UTC),
             datetime(2026, 3, 10, tzinfo=UTC), "MAEU", "MSKU7654321", "edi_ship_notices",
             "5790000000029:D1:1"),
            ("acme", "DES-42", "PO+9001", "DELIVERED", "EST", datetime(2026, 4, 5, tzinfo=UTC),
             datetime(2026, 3, 10, tzinfo=UTC), "MAEU", "MSKU7654321", "edi_ship_notices",
             "5790000000029:D1:1"),
        ]  # fmt: skip
    finally:
        con.close()
