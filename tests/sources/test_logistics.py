"""The logistics source: DCSA Track & Trace events as carriers send them (and spell them) and the
canonical milestone feed, through the reader, the pandera contract and DuckDB; the paged pull
(``Next-Page`` links, ``Next-Page-Cursor``) over real loopback HTTP; and fct_shipment_milestones /
fct_supplier_performance after a real dbt build of a small demo world, checked against its answer
key."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from traceloom_pipelines.integration.http import SourceHttpClient
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.sources.logistics.connector import (
    NEXT_PAGE,
    NEXT_PAGE_CURSOR,
    iter_dcsa_event_records,
    pull_dcsa_events,
)
from traceloom_pipelines.sources.logistics.contract import dcsa_events, shipment_milestones

# A DCSA 2.2 equipment event: the equipment part (LOAD of a laden container) and the transport
# part (the transport call: vessel, voyage, port), as Maersk-style APIs return it.
LOAD_EVENT = {
    "eventID": "5e51e72c-d872-11ea-811c-0242ac130003",
    "eventType": "EQUIPMENT",
    "eventClassifierCode": "ACT",
    "eventDateTime": "2026-02-03T22:15:00+08:00",
    "eventCreatedDateTime": "2026-02-03T14:31:07.123Z",
    "equipmentEventTypeCode": "LOAD",
    "equipmentReference": "MSKU9070323",
    "ISOEquipmentCode": "45G1",
    "emptyIndicatorCode": "LADEN",
    "transportCall": {
        "transportCallID": "123e4567-e89b-12d3-a456-426614174000",
        "carrierServiceCode": "TP6",
        "exportVoyageNumber": "2106E",
        "importVoyageNumber": "2107W",
        "UNLocationCode": "CNYTN",
        "facilityTypeCode": "POTE",
        "modeOfTransport": "VESSEL",
        "vessel": {
            "vesselIMONumber": "9811000",
            "vesselName": "Maersk  Kowloon",
            "vesselFlag": "DK",
            "vesselCallSignNumber": "OXKW2",
            "vesselOperatorCarrierCode": "MAEU",
            "vesselOperatorCarrierCodeListProvider": "NMFTA",
        },
    },
    "documentReferences": [
        {"documentReferenceType": "BKG", "documentReferenceValue": "MAE1234567"},
        {"documentReferenceType": "TRD", "documentReferenceValue": "MAEU226543213"},
    ],
    "references": [{"referenceType": "PO", "referenceValue": "PO-2026-000101"}],
    "seals": [{"sealNumber": "VZ1234567", "sealSource": "CAR", "sealType": "BLT"}],
}
# Carrier quirks: lower-case codes, location only under transportCall.location, an extra field,
# no references block, Z offset.
DEPARTURE_EVENT = {
    "eventID": "7b0d4e8a-0001",
    "eventType": "transport",
    "eventClassifierCode": "est",
    "eventDateTime": "2026-02-04T09:00:00Z",
    "eventCreatedDateTime": "2026-02-03T18:00:00Z",
    "transportEventTypeCode": "depa",
    "delayReasonCode": "WEA",
    "transportCall": {
        "carrierVoyageNumber": "2106E",
        "location": {"UNLocationCode": "cnytn", "locationName": "Yantian"},
        "vessel": {"vesselIMONumber": "9811000", "vesselName": "MAERSK KOWLOON"},
    },
    "documentReferences": [
        {"documentReferenceType": "bkg", "documentReferenceValue": "MAE1234567"}
    ],
    "carrierSpecificData": {"internalStatus": "S42"},
}
# A carrier's own spelling: eventId, unLocationCode (at two depths), title-case codes.
CARRIER_SPELLED_EVENT = {
    "eventId": "7b0d4e8a-0003",
    "eventType": "Equipment",
    "eventClassifierCode": "Act",
    "eventDateTime": "2026-02-04T11:00:00+08:00",
    "eventCreatedDateTime": "2026-02-04T03:05:00Z",
    "equipmentEventTypeCode": "Gtot",
    "equipmentReference": "MSKU9070323",
    "emptyIndicatorCode": "Laden",
    "transportCall": {"location": {"unLocationCode": "NLRTM"}, "modeOfTransport": "Vessel"},
    "eventLocation": {"UnLocationCode": "NLRTM"},
}
# Gate-in without the (optional) transportCall block: the location is in eventLocation.
GATE_IN_EVENT = {
    "eventID": "7b0d4e8a-0002",
    "eventType": "EQUIPMENT",
    "eventClassifierCode": "ACT",
    "eventDateTime": "2026-02-01T07:40:00+08:00",
    "eventCreatedDateTime": "2026-02-01T00:05:00Z",
    "equipmentEventTypeCode": "GTIN",
    "equipmentReference": "MSKU9070323",
    "emptyIndicatorCode": "LADEN",
    "eventLocation": {"UNLocationCode": "CNYTN"},
    "documentReferences": [
        {"documentReferenceType": "BKG", "documentReferenceValue": "MAE1234567"}
    ],
}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- reader ---------------------------------------------------------------------------------


def test_reader_takes_pages_wrapped_pages_single_events_and_jsonl(tmp_path: Path) -> None:
    page = _write(tmp_path / "page.json", json.dumps([LOAD_EVENT, DEPARTURE_EVENT]))
    wrapped = _write(tmp_path / "wrapped.json", json.dumps({"events": [GATE_IN_EVENT]}))
    single = _write(tmp_path / "single.json", json.dumps(LOAD_EVENT))
    lines = _write(
        tmp_path / "pull.jsonl",
        json.dumps(LOAD_EVENT)
        + "\n\n"
        + json.dumps([DEPARTURE_EVENT, GATE_IN_EVENT])
        + "\n{oops\n",
    )
    assert [(n, json.loads(t)["eventID"]) for n, t in iter_dcsa_event_records(page)] == [
        (1, LOAD_EVENT["eventID"]),
        (2, DEPARTURE_EVENT["eventID"]),
    ]
    assert [json.loads(t) for _, t in iter_dcsa_event_records(wrapped)] == [GATE_IN_EVENT]
    assert [json.loads(t) for _, t in iter_dcsa_event_records(single)] == [LOAD_EVENT]
    records = list(iter_dcsa_event_records(lines))
    assert [n for n, _ in records] == [1, 2, 3, 4]
    assert records[-1][1] == "{oops"  # kept, to be quarantined as not JSON


# -- contract and landing -------------------------------------------------------------------


@pytest.fixture()
def landed_dcsa(tmp_path: Path):
    landing = tmp_path / "landing"
    folder = landing / "acme-apparel" / "logistics" / "dcsa_events"
    bad_code = {**GATE_IN_EVENT, "eventID": "bad-1", "equipmentEventTypeCode": "XXXX"}
    no_zone = {**GATE_IN_EVENT, "eventID": "bad-2", "eventDateTime": "2026-02-01 07:40"}
    _write(
        folder / "dcsa_MAEU_2026-02-03_p001.json",
        json.dumps(
            [LOAD_EVENT, DEPARTURE_EVENT, GATE_IN_EVENT, CARRIER_SPELLED_EVENT, bad_code, no_zone]
        ),
    )
    con = connect(tmp_path)
    result = land_entity(con, dcsa_events, landing)
    yield con, result
    con.close()


def test_dcsa_event_with_equipment_and_transport_parts_lands_in_utc(landed_dcsa) -> None:
    con, _ = landed_dcsa
    rows = run(
        con,
        'select "eventDateTime", "eventCreatedDateTime", "equipmentEventTypeCode", '
        '"transportCall_UNLocationCode", "transportCall_exportVoyageNumber", "vessel_vesselName", '
        '"vessel_vesselIMONumber", "vessel_vesselOperatorCarrierCode", "equipmentReference" '
        'from raw.logistics__dcsa_events where "eventID" = ?',
        [LOAD_EVENT["eventID"]],
    )
    assert rows == [
        (
            datetime(2026, 2, 3, 14, 15),  # 22:15 +08:00
            datetime(2026, 2, 3, 14, 31, 7, 123000),
            "LOAD",
            "CNYTN",
            "2106E",
            "Maersk  Kowloon",
            "9811000",
            "MAEU",
            "MSKU9070323",
        )
    ]
    refs = run(
        con,
        'select "documentReferences"::varchar from raw.logistics__dcsa_events where "eventID" = ?',
        [LOAD_EVENT["eventID"]],
    )
    assert json.loads(refs[0][0]) == LOAD_EVENT["documentReferences"]


def test_carrier_quirks_are_accepted_and_bad_events_quarantined_with_reasons(landed_dcsa) -> None:
    con, result = landed_dcsa
    counts = result.total
    assert (counts.rows_read, counts.rows_landed, counts.rows_quarantined) == (6, 4, 2)
    landed = run(
        con,
        'select "eventID", "eventType", "eventClassifierCode", "equipmentEventTypeCode", '
        '"transportEventTypeCode", "emptyIndicatorCode", '
        '"transportCall_location_UNLocationCode", "eventLocation_UNLocationCode" '
        'from raw.logistics__dcsa_events order by "eventID"',
    )
    # codes land upper-cased, carrier field names as DCSA's; other values as sent (the
    # location in lower case: staging upper-cases it)
    assert landed == [
        (LOAD_EVENT["eventID"], "EQUIPMENT", "ACT", "LOAD", None, "LADEN", None, None),
        ("7b0d4e8a-0001", "TRANSPORT", "EST", None, "DEPA", None, "cnytn", None),
        ("7b0d4e8a-0002", "EQUIPMENT", "ACT", "GTIN", None, "LADEN", None, "CNYTN"),
        ("7b0d4e8a-0003", "EQUIPMENT", "ACT", "GTOT", None, "LADEN", "NLRTM", "NLRTM"),
    ]
    reasons = run(
        con,
        "select json_extract_string(record, '$.eventID'), failed_checks "
        "from audit.quarantine order by 1",
    )
    assert reasons == [
        ("bad-1", ["equipmentEventTypeCode:isin"]),
        ("bad-2", ["eventDateTime:is_timestamp"]),
    ]


def test_canonical_milestone_outside_the_vocabulary_is_quarantined(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    good = {
        "eventId": "EV-1",
        "eventType": "DELIVERED",
        "eventTime": "2026-02-20T10:00:00-05:00",
        "reportedAt": "2026-02-20T15:30:00Z",
        "bookingNumber": "MSC1000101",
        "poId": "PO-2026-000101",
        "awbNumber": "176-12345675",
        "carrier": "MSCU",
        "deliveredQuantity": 1200,
    }
    bad = {**good, "eventId": "EV-2", "eventType": "PICKED_UP"}
    _write(
        landing / "acme-apparel" / "logistics" / "shipment_milestones" / "m.jsonl",
        json.dumps(good) + "\n" + json.dumps(bad) + "\n",
    )
    con = connect(tmp_path)
    try:
        land_entity(con, shipment_milestones, landing)
        assert run(
            con,
            'select "eventTime", "deliveredQuantity", "awbNumber" '
            "from raw.logistics__shipment_milestones",
        ) == [(datetime(2026, 2, 20, 15, 0), 1200.0, "176-12345675")]
        assert run(con, "select failed_checks from audit.quarantine") == [(["eventType:isin"],)]
    finally:
        con.close()


# -- cursor-paged pull over loopback HTTP -----------------------------------------------------


def test_pull_follows_next_page_cursor_and_writes_one_drop_per_page(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    pages = {
        None: ([LOAD_EVENT, DEPARTURE_EVENT], "c2"),
        "c2": ([GATE_IN_EVENT], "c3"),
        "c3": ([], None),
    }
    seen: list[dict] = []

    def handler(request: Request) -> Response:
        seen.append(dict(request.args))
        events, cursor = pages[request.args.get("cursor")]
        headers = {NEXT_PAGE_CURSOR: cursor} if cursor else {}
        return Response(json.dumps(events), headers=headers, content_type="application/json")

    httpserver.expect_request("/v2/events").respond_with_handler(handler)
    client = SourceHttpClient("logistics", httpserver.url_for("/"), sleep=lambda _s: None)
    written = pull_dcsa_events(
        client,
        tmp_path / "landing",
        "acme-apparel",
        "MAEU",
        params={"eventType": "EQUIPMENT,TRANSPORT"},
        limit=2,
        now=datetime(2026, 2, 4, 1, 2, 3, tzinfo=UTC),
    )
    assert seen == [
        {"limit": "2", "eventType": "EQUIPMENT,TRANSPORT"},
        {"limit": "2", "cursor": "c2"},
        {"limit": "2", "cursor": "c3"},
    ]
    folder = tmp_path / "landing" / "acme-apparel" / "logistics" / "dcsa_events"
    assert [p.name for p in written] == [
        "dcsa_MAEU_20260204T010203_p0001.jsonl",
        "dcsa_MAEU_20260204T010203_p0002.jsonl",
    ]
    assert sorted(p.name for p in folder.iterdir()) == [p.name for p in written]
    events = [json.loads(t) for p in written for _, t in iter_dcsa_event_records(p)]
    assert events == [LOAD_EVENT, DEPARTURE_EVENT, GATE_IN_EVENT]
    assert not client.session.hooks["response"]  # the cursor hook is removed again


def test_pull_retries_a_failed_page_and_stops_on_a_repeated_cursor(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    calls = {"n": 0}

    def handler(request: Request) -> Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return Response("busy", status=503)
        return Response(json.dumps([LOAD_EVENT]), headers={NEXT_PAGE_CURSOR: "same"})

    httpserver.expect_request("/v2/events").respond_with_handler(handler)
    client = SourceHttpClient("logistics", httpserver.url_for("/"), sleep=lambda _s: None)
    with pytest.raises(RuntimeError, match="repeated the next page .*cursor=same"):
        pull_dcsa_events(client, tmp_path / "landing", "acme-apparel", "MAEU")
    assert client.stats()["retries"] == 1
    folder = tmp_path / "landing" / "acme-apparel" / "logistics" / "dcsa_events"
    assert len(list(folder.glob("*.jsonl"))) == 2  # pages before the loop are kept


def test_pull_follows_relative_next_page_links_and_prefers_them_to_the_cursor(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    def handler(request: Request) -> Response:
        cursor = request.args.get("cursor")
        if cursor is None:  # both headers: the Next-Page link wins
            headers = {NEXT_PAGE: "/v2/events?cursor=abc", NEXT_PAGE_CURSOR: "ignored"}
            return Response(json.dumps([LOAD_EVENT]), headers=headers)
        if cursor == "abc":  # a link relative to the request's own path
            return Response(json.dumps([DEPARTURE_EVENT]), headers={NEXT_PAGE: "events?cursor=d"})
        return Response(json.dumps([GATE_IN_EVENT]))

    httpserver.expect_request("/v2/events").respond_with_handler(handler)
    client = SourceHttpClient("logistics", httpserver.url_for("/"), sleep=lambda _s: None)
    written = pull_dcsa_events(client, tmp_path / "landing", "acme-apparel", "MAEU", limit=5)
    assert [dict(request.args) for request, _ in httpserver.log] == [
        {"limit": "5"},
        {"cursor": "abc"},
        {"cursor": "d"},
    ]
    events = [json.loads(t) for p in written for _, t in iter_dcsa_event_records(p)]
    assert events == [LOAD_EVENT, DEPARTURE_EVENT, GATE_IN_EVENT]


def test_pull_refuses_a_next_page_link_to_another_host(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    elsewhere = "https://collector.example.net/v2/events?cursor=abc&api_key=s3cr3t"
    httpserver.expect_request("/v2/events").respond_with_data(
        json.dumps([LOAD_EVENT]), headers={NEXT_PAGE: elsewhere}
    )
    client = SourceHttpClient("logistics", httpserver.url_for("/"), sleep=lambda _s: None)
    with pytest.raises(RuntimeError, match="leaves the carrier API") as raised:
        pull_dcsa_events(client, tmp_path / "landing", "acme-apparel", "MAEU")
    assert "s3cr3t" not in str(raised.value)  # no secret in the message
    assert len(httpserver.log) == 1


# -- marts after a real dbt build of a small demo world ---------------------------------------


def test_dbt_build_of_the_logistics_marts_passes(logistics_world) -> None:
    done = logistics_world["dbt"]
    assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout and "WARN=0" in done.stdout


def test_shipment_milestones_are_exactly_the_answer_key(logistics_world) -> None:
    key, con = logistics_world["key"], logistics_world["con"]
    got = {
        row[:4]: row[4:]
        for row in con.execute(
            "select tenant_id, shipment_id, milestone, classifier, po_id, "
            "strftime(event_at, '%Y-%m-%dT%H:%M:%SZ'), report_count, is_late_report, "
            "is_reported_out_of_order from marts.fct_shipment_milestones"
        ).fetchall()
    }
    expected = {
        (s["tenant_id"], s["shipment_id"], m["milestone"], m["classifier"]): (
            s["po_id"],
            m["event_at"],
            m["reports"],
            m["late_report"],
            m["reported_out_of_order"],
        )
        for s in key["shipments"]
        for m in s["milestones"]
    }
    # and the partners' EDI ship notices (their own shipments, one report each)
    expected |= {
        (n["tenant_id"], n["shipment_id"], m["milestone"], m["classifier"]): (
            n["po_id"],
            m["event_at"],
            1,
            False,
            False,
        )
        for n in key["edi"]["ship_notices"]
        for m in n["milestones"]
    }
    assert got == expected
    values = list(expected.values())
    # the world exercises every rule: duplicates merged, late and out-of-order reports, DCSA
    # plans and estimates, the DCSA-only discharge milestone, both tenants
    assert any(v[2] > 1 for v in values) and any(v[3] for v in values) and any(v[4] for v in values)
    assert {k[3] for k in expected} == {"PLN", "EST", "ACT"}
    assert "DISCHARGED" in {k[2] for k in expected}
    assert {k[0] for k in expected} == set(key["tenants"])


def _carrier_spelled_events(landing: Path) -> list[tuple[str, dict]]:
    """(tenant, event) of every DCSA event the demo world wrote in a carrier's spelling."""
    return [
        (path.relative_to(landing).parts[0], event)
        for path in sorted(landing.glob("*/logistics/dcsa_events/*.json"))
        for event in json.loads(path.read_text())
        if "eventId" in event
    ]


def _spelled_location(event: dict) -> str:
    call = event.get("transportCall", {})
    place = call.get("unLocationCode") or call.get("location", {}).get("unLocationCode")
    return place or event["eventLocation"]["unLocationCode"]


def test_carrier_spelled_dcsa_events_land_and_their_milestones_reach_the_marts(
    logistics_world,
) -> None:
    key, con = logistics_world["key"], logistics_world["con"]
    spelled = _carrier_spelled_events(logistics_world["dir"] / "landing")
    assert spelled and {e["eventType"] for _, e in spelled} <= {"Equipment", "Transport"}
    assert con.execute(
        "select count(*) from audit.quarantine where entity = 'dcsa_events'"
    ).fetchall() == [(0,)]
    ids = {(tenant, e["eventId"]) for tenant, e in spelled}
    staged = [
        row
        for row in con.execute(
            "select tenant_id, event_id, event_type, classifier, location "
            "from staging.stg_logistics__dcsa_events"
        ).fetchall()
        if row[:2] in ids
    ]
    expected = [
        (
            tenant,
            e["eventId"],
            e["eventType"].upper(),
            e["eventClassifierCode"].upper(),
            _spelled_location(e).upper(),
        )
        for tenant, e in spelled
    ]
    assert sorted(staged) == sorted(expected)
    # the shipments they report have exactly the answer key's milestones, some won by them
    bookings = {
        (tenant, ref["documentReferenceValue"])
        for tenant, e in spelled
        for ref in e["documentReferences"]
        if ref["documentReferenceType"].upper() == "BKG"
    }
    rows = con.execute(
        "select tenant_id, shipment_id, milestone, classifier, source_event_id "
        "from marts.fct_shipment_milestones"
    ).fetchall()
    got = {r[:4] for r in rows if r[:2] in bookings}
    assert got == {
        (s["tenant_id"], s["shipment_id"], m["milestone"], m["classifier"])
        for s in key["shipments"]
        if (s["tenant_id"], s["shipment_id"]) in bookings
        for m in s["milestones"]
    }
    assert any((r[0], r[4]) in ids for r in rows)


def test_milestones_are_ordered_by_event_time_not_arrival(logistics_world) -> None:
    rows = (
        logistics_world["con"]
        .execute(
            "select tenant_id, shipment_id, classifier, event_sequence, event_at "
            "from marts.fct_shipment_milestones order by all"
        )
        .fetchall()
    )
    groups: dict[tuple, list] = defaultdict(list)
    for tenant, shipment, classifier, sequence, at in rows:
        groups[(tenant, shipment, classifier)].append((sequence, at))
    for members in groups.values():
        assert [s for s, _ in members] == list(range(1, len(members) + 1))
        assert [at for _, at in members] == sorted(at for _, at in members)


def test_corrections_win_and_misspelt_vessels_share_the_canonical_match_key(
    logistics_world,
) -> None:
    key, con = logistics_world["key"], logistics_world["con"]
    misspelt = {
        s["vessel_name_in_feed"]: s["vessel_name"] for s in key["shipments"] if s["vessel_name"]
    }
    assert any(s["mode"] == "AIR" and s["delivered_at"] for s in key["shipments"])
    assert any(feed != name for feed, name in misspelt.items())
    rows = con.execute(
        "select distinct vessel_name, vessel_name_key from marts.fct_shipment_milestones "
        "where vessel_name is not null"
    ).fetchall()
    canonical_key = {name: name.replace(" ", "").replace("-", "") for name in misspelt.values()}
    for spelled, match_key in rows:
        assert match_key == canonical_key[misspelt[spelled]], spelled
    assert {s for s, _ in rows} >= {f for f, n in misspelt.items() if f != n}


def test_supplier_performance_is_computed_from_the_answer_key(logistics_world) -> None:
    key, con = logistics_world["key"], logistics_world["con"]
    got = {
        row[:3]: row[3:]
        for row in con.execute(
            "select tenant_id, supplier, strftime(month_start_date, '%Y-%m-%d'), "
            "delivered_po_count, on_time_po_count, otif_po_count, on_time_delivery_rate, "
            "otif_rate, avg_lead_time_days, spend from marts.fct_supplier_performance"
        ).fetchall()
    }
    expected = {
        (p["tenant_id"], p["supplier"], p["month"]): (
            p["delivered_pos"],
            p["on_time_pos"],
            p["otif_pos"],
            p["on_time_delivery_rate"],
            p["otif_rate"],
            p["avg_lead_time_days"],
            p["spend"],
        )
        for p in key["supplier_performance"]
    }
    assert got.keys() == expected.keys()
    for group, values in expected.items():
        assert got[group][:5] == pytest.approx(values[:5]), group
        assert got[group][5] == pytest.approx(values[5], abs=1e-6), group
        assert got[group][6] == pytest.approx(values[6], abs=0.01), group
    # OTIF from the key's per-shipment facts: on time and in full, over delivered POs
    delivered = [s for s in key["shipments"] if s["delivered_at"]]
    assert sum(v[2] for v in got.values()) == sum(s["on_time"] and s["in_full"] for s in delivered)
    assert any(not s["in_full"] for s in delivered)


def test_quality_score_is_the_pass_rate_of_the_pos_inspections(logistics_world) -> None:
    rows = (
        logistics_world["con"]
        .execute(
            "select inspection_count, inspection_pass_count, quality_score "
            "from marts.fct_supplier_performance"
        )
        .fetchall()
    )
    assert any(count for count, _, _ in rows)
    for count, passed, score in rows:
        assert score == (pytest.approx(100.0 * passed / count) if count else None)
