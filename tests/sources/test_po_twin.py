"""The PO digital twin (issue 6 §2): fct_po_timeline and fct_po_delay_risk after a real dbt build
of the small demo world (``logistics_world``), checked against the answer key the generator
wrote from what it injected (``po_delay_risk``, ``shipments``, ``weather``, ``port_congestion``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest

from traceloom_pipelines.demo.po_risk import SIGNALS, STAGES

pytestmark = pytest.mark.slow

STAGE_ORDER = [stage for stage, *_ in STAGES]


def _rows(con, sql: str) -> list[dict]:
    rel = con.sql(sql)
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def _utc(text: str) -> datetime:
    """An ISO-8601 time of the answer key as the marts' instant (aware, UTC)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_dbt_build_of_the_twin_passes(logistics_world) -> None:
    done = logistics_world["dbt"]
    assert done.returncode == 0, done.stdout[-4000:]
    assert "fct_po_timeline" in done.stdout and "fct_po_delay_risk" in done.stdout


def test_the_world_has_an_open_po_at_risk_for_every_reason(logistics_world) -> None:
    key = logistics_world["key"]
    found = {signal for entry in key["po_delay_risk"] for signal in entry["signals"]}
    assert found == set(SIGNALS)
    assert key["port_congestion"]["congested_days"], "the demo port must be congested some days"


def test_delay_risk_flags_exactly_the_answer_key(logistics_world) -> None:
    key, con = logistics_world["key"], logistics_world["con"]
    expected = {(e["tenant_id"], e["po_id"]): set(e["signals"]) for e in key["po_delay_risk"]}
    got = {
        (r["tenant_id"], r["po_id"]): set(r["risk_signals"])
        for r in _rows(
            con,
            "select tenant_id, po_id, risk_signals from marts.fct_po_delay_risk "
            "where signal_count > 0",
        )
    }
    flagged, truth = set(got), set(expected)
    precision = len(flagged & truth) / len(flagged)
    recall = len(flagged & truth) / len(truth)
    assert (precision, recall) == (1.0, 1.0), (sorted(flagged - truth), sorted(truth - flagged))
    wrong = {po: (got[po], expected[po]) for po in truth if got[po] != expected[po]}
    assert not wrong


def test_reasons_name_the_evidence(logistics_world) -> None:
    key, con = logistics_world["key"], logistics_world["con"]
    rows = _rows(con, "select * from marts.fct_po_delay_risk")
    congested = key["port_congestion"]["congested_days"]
    severe = [
        i
        for i in key["weather"]["warning_intervals"]
        if i["warning_code"].startswith("TC") and i["warning_code"] != "TC1"
    ]
    for row in rows:
        signals, reason = row["risk_signals"], row["risk_reason"]
        assert row["signal_count"] == len(signals)
        if not signals:
            assert (row["risk_level"], reason) == ("none", "No delay risk found.")
            continue
        assert row["risk_level"] in ("low", "medium", "high")
        if "storm_warning" in signals:
            assert "Typhoon signal No." in reason and "Hong Kong (HKHKG)" in reason
            assert any(i["started_at"][:10] in reason for i in severe), reason
        if "port_congestion" in signals:
            assert any(f"congested on {day}" in reason for day in congested), reason
            assert "threshold 1.50" in reason
        if "vessel_eta_late" in signals:
            assert "AIS ETA of" in reason and "after the planned arrival" in reason
            assert row["eta_delay_hours"] > 24
        if "production_late" in signals:
            assert "Production stage" in reason and "planned" in reason
        if "sensor_excursion" in signals:
            assert "Sensor excursion: temperature above max" in reason and "UTC for" in reason
        assert row["sensor_excursion_count"] == (0 if "sensor_excursion" not in signals else 1)
        for signal, column in (
            ("storm_warning", "storm_evidence"),
            ("port_congestion", "congestion_evidence"),
            ("vessel_eta_late", "eta_evidence"),
            ("production_late", "production_evidence"),
            ("sensor_excursion", "sensor_excursion_evidence"),
        ):
            assert (signal in signals) == (row[column] is not None)
    levels = {r["po_id"]: r["risk_level"] for r in rows}
    storm_pos = [e["po_id"] for e in key["po_delay_risk"] if "storm_warning" in e["signals"]]
    # the demo typhoon reaches signal No. 8: a storm PO is high risk (documented level rule)
    assert storm_pos and all(levels[po] == "high" for po in storm_pos)


def test_timeline_stages_are_in_order_with_one_current_stage_per_open_po(logistics_world) -> None:
    con = logistics_world["con"]
    rows = _rows(
        con,
        "select * from marts.fct_po_timeline order by tenant_id, po_id, stage_sequence",
    )
    by_po: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        by_po[(row["tenant_id"], row["po_id"])].append(row)
    # every PO with a ship window (the EDI-only POs have none: no twin)
    pos = _rows(
        con,
        "select tenant_id, po_id from marts.fct_purchase_orders "
        "where ship_window_start_date is not null",
    )
    assert con.execute(
        "select count(*) from marts.fct_purchase_orders where ship_window_start_date is null"
    ).fetchone()[0] == len(logistics_world["key"]["edi"]["purchase_orders"])
    assert set(by_po) == {(p["tenant_id"], p["po_id"]) for p in pos}
    open_pos = set()
    for po, stages in by_po.items():
        names = [s["stage"] for s in stages]
        assert names == [n for n in STAGE_ORDER if n in names], po
        expected_names = [
            n for n in STAGE_ORDER if not (stages[0]["is_air"] and n == "LOADED_ON_VESSEL")
        ]
        assert names == expected_names, po
        current = [s for s in stages if s["is_current_stage"]]
        if stages[0]["is_po_open"]:
            open_pos.add(po)
            assert len(current) == 1, po
            seq = current[0]["stage_sequence"]
            assert all(s["stage_status"] == "done" for s in stages if s["stage_sequence"] < seq)
            assert all(
                s["stage_status"] == "not_started" for s in stages if s["stage_sequence"] > seq
            )
            assert current[0]["stage_status"] in ("in_progress", "not_started")
        else:
            assert current == [], po
        for s in stages:
            if s["actual_at"] is None:
                assert s["delay_hours"] is None
            else:
                hours = (s["actual_at"] - s["planned_at"]).total_seconds() / 3600
                assert s["delay_hours"] == pytest.approx(hours, abs=0.01)
                assert s["stage_status"] == "done" and s["expected_at"] == s["actual_at"]
    risk = _rows(con, "select tenant_id, po_id from marts.fct_po_delay_risk")
    assert {(r["tenant_id"], r["po_id"]) for r in risk} == open_pos


def test_timeline_actuals_are_the_carriers_milestones(logistics_world) -> None:
    key, con = logistics_world["key"], logistics_world["con"]
    got = {
        (r["tenant_id"], r["po_id"], r["stage"]): r
        for r in _rows(con, "select * from marts.fct_po_timeline where stage_group = 'logistics'")
    }
    checked = 0
    for shipment in key["shipments"]:
        for m in shipment["milestones"]:
            if m["milestone"] == "DISCHARGED":
                continue
            row = got[(shipment["tenant_id"], shipment["po_id"], m["milestone"])]
            assert row["shipment_id"] == shipment["shipment_id"]
            if m["classifier"] == "ACT":
                assert row["actual_at"] == _utc(m["event_at"])
                checked += 1
            elif m["classifier"] == "PLN":
                assert (row["planned_at"], row["planned_source"]) == (
                    _utc(m["event_at"]),
                    "carrier_plan",
                )
            else:
                assert row["estimated_at"] == _utc(m["event_at"])
        # shipped POs are never cancelled (the demo books no cancelled PO): open until delivered
        row = got[(shipment["tenant_id"], shipment["po_id"], "DELIVERED")]
        assert row["is_po_open"] is (shipment["delivered_at"] is None)
    assert checked > 0


def test_timeline_flags_the_stage_groups_of_pos_with_sensor_excursions(logistics_world) -> None:
    key, con = logistics_world["key"], logistics_world["con"]
    group = {"machine": "production", "container": "logistics"}
    expected = {
        (e["tenant_id"], e["po_id"], group[e["location_kind"]])
        for e in key["sensor_excursions"]
        if e["po_id"]
    }
    flagged = {
        (r["tenant_id"], r["po_id"], r["stage_group"])
        for r in _rows(
            con,
            "select distinct tenant_id, po_id, stage_group from marts.fct_po_timeline "
            "where has_sensor_excursion",
        )
    }
    assert expected and flagged == expected
