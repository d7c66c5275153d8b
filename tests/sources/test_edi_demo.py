"""The demo world's EDI partner files (traceloom_pipelines/demo/edi.py) through the real landing and
dbt, checked against the world's answer key: counts and quarantine per entity, the canonical POs
of route ``edi``, acknowledgments in the PO marts, ship notices in the milestones, and one
997 / CONTRL per interchange for each sender.

The world is the source tests' shared logistics world (tests/sources/conftest.py: scale 0.01,
two tenants, every source the logistics and PO marts read landed, one dbt build), so this
module adds no landing or dbt run of its own.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from traceloom_pipelines.landing.warehouse import run


@pytest.fixture(scope="module")
def edi_world(logistics_world) -> dict:
    """The shared logistics world (tests/sources/conftest.py): its EDI drops are landed with the
    other sources and dbt has built the PO and milestone marts."""
    return logistics_world


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def test_edi_drops_land_as_the_answer_key_counts_and_quarantines(edi_world):
    key, con = edi_world["key"], edi_world["con"]
    got = {
        name: {"rows_read": a, "rows_landed": b, "rows_quarantined": c, "rows_duplicate": d}
        for name, a, b, c, d in run(
            con,
            "select tenant_id || '/edi/' || entity, sum(rows_read), sum(rows_landed), "
            "sum(rows_quarantined), sum(rows_duplicate) from audit.batches "
            "where source_system = 'edi' group by all",
        )
    }
    expected = {name: c for name, c in key["entities"].items() if "/edi/" in name}
    assert got == expected
    # all six message types, both tenants
    types = run(con, "select distinct tenant_id, message_type from raw.edi__purchase_orders")
    types += run(con, "select distinct tenant_id, message_type from raw.edi__po_acknowledgments")
    types += run(con, "select distinct tenant_id, message_type from raw.edi__ship_notices")
    for tenant in key["tenants"]:
        assert {t for k, t in types if k == tenant} == {
            "850", "855", "856", "ORDERS", "ORDRSP", "DESADV"
        }  # fmt: skip
    quarantined = {
        (f, r, tuple(c))
        for f, r, c in run(
            con,
            "select source_file, source_row, failed_checks from audit.quarantine "
            "where source_system = 'edi'",
        )
    }
    assert quarantined == {
        (q["source_file"], q["source_row"], tuple(q["failed_checks"]))
        for q in key["quarantine"]
        if q["system"] == "edi"
    }
    assert {c for _, _, (c,) in quarantined} == {
        "_envelope:iea_control_number_mismatch",
        "_transaction:missing_po_number",
    }


def test_canonical_purchase_orders_of_route_edi_are_the_answer_key(edi_world):
    done = edi_world["dbt"]
    assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout and "WARN=0" in done.stdout, done.stdout[-4000:]
    key, con = edi_world["key"], edi_world["con"]
    columns = (
        "tenant_id, po_id, source_route, revision, po_status, customer, supplier, product, "
        "quantity, unit, unit_price, currency, requested_delivery_date, line_count, updated_at"
    )
    got = run(
        con,
        f"select {columns} from marts.fct_purchase_orders where source_route = 'edi' order by all",
    )
    expected = sorted(
        (
            *(p[c] for c in columns.split(", ")[:12]),
            _day(p["requested_delivery_date"]),
            p["line_count"],
            _instant(p["updated_at"]),
        )
        for p in key["edi"]["purchase_orders"]
    )
    assert got == expected and {g[0] for g in got} == set(key["tenants"])
    # a PO both routes carry: the ERP route wins (its revisions are never older than the 850)
    routes = dict(
        ((t, p), r)
        for t, p, r in run(
            con, "select tenant_id, po_id, source_route from marts.fct_purchase_orders"
        )
    )
    assert key["edi"]["erp_won"]
    for entry in key["edi"]["erp_won"]:
        assert routes[(entry["tenant_id"], entry["po_id"])] == entry["source_route"]


def test_acknowledgments_reach_the_purchase_order_marts(edi_world):
    key, con = edi_world["key"], edi_world["con"]
    got = run(
        con,
        "select tenant_id, po_id, ack_status, ack_code, acknowledged_at, supplier_order_number, "
        "ack_partner_id, acknowledgment_count from marts.fct_purchase_orders "
        "where ack_status is not null order by all",
    )
    acks = key["edi"]["acknowledgments"]
    assert got == sorted(
        (
            a["tenant_id"], a["po_id"], a["ack_status"], a["ack_code"],
            _instant(a["acknowledged_at"]), a["supplier_order_number"], a["ack_partner_id"],
            a["acknowledgment_count"],
        )
        for a in acks
    )  # fmt: skip
    assert {a["ack_status"] for a in acks} == {"accepted", "accepted_with_changes", "rejected"}
    lines = run(
        con,
        "select tenant_id, line_item_id, line_ack_status, acknowledged_quantity, "
        "acknowledged_delivery_date from marts.fct_purchase_order_lines "
        "where line_ack_status is not null order by all",
    )
    assert lines == sorted(
        (
            a["tenant_id"], line["line_item_id"], line["line_ack_status"],
            line["acknowledged_quantity"], _day(line["acknowledged_delivery_date"]),
        )
        for a in acks
        for line in a["lines"]
    )  # fmt: skip


def test_ship_notices_reach_the_shipment_milestones(edi_world):
    key, con = edi_world["key"], edi_world["con"]
    got = run(
        con,
        "select tenant_id, shipment_id, po_id, milestone, classifier, event_at, reported_at, "
        "carrier, container_number, source_event_id from marts.fct_shipment_milestones "
        "where source = 'edi_ship_notices' order by all",
    )
    notices = key["edi"]["ship_notices"]
    assert got == sorted(
        (
            n["tenant_id"], n["shipment_id"], n["po_id"], m["milestone"], m["classifier"],
            _instant(m["event_at"]), _instant(n["reported_at"]), n["carrier"],
            n["container_number"], n["source_event_id"],
        )
        for n in notices
        for m in n["milestones"]
    )  # fmt: skip
    erp_pos = {(e["tenant_id"], e["po_id"]) for e in key["edi"]["erp_won"]}
    assert any((n["tenant_id"], n["po_id"]) in erp_pos for n in notices)  # ERP POs shipped
    assert any((n["tenant_id"], n["po_id"]) not in erp_pos for n in notices)  # EDI-only too


def test_every_sender_gets_a_997_or_contrl_per_interchange(edi_world):
    key, data_dir = edi_world["key"], edi_world["dir"]
    expected = key["edi"]["functional_acknowledgments"]
    assert {e["kind"] for e in expected} == {"997", "CONTRL"}
    for e in expected:
        folder = data_dir / "edi" / "outbound" / e["tenant_id"] / e["folder"]
        files = sorted(folder.iterdir())
        assert len(files) == e["files"], e
        texts = [f.read_text() for f in files]
        if e["kind"] == "997":
            assert all(t.startswith("ISA") and "ST*997*" in t for t in texts)
        else:
            assert all("UNH+1+CONTRL:" in t for t in texts)
    # the interchange with the IEA02 defect is answered with a TA1 error note; the broken 850
    # is rejected (AK5 R) and the rest of its group accepted (AK9 P)
    acme = [e for e in expected if e["kind"] == "997" and e["tenant_id"] == key["tenants"][0]]
    texts = [
        f.read_text()
        for e in acme
        for f in (data_dir / "edi" / "outbound" / e["tenant_id"] / e["folder"]).iterdir()
    ]
    assert sum("TA1*" in t and "*E*001~" in t for t in texts) == 1
    assert sum("AK5*R*" in t for t in texts) == 1
