"""The push gateway over real HTTP: seed responses (003 §3.3), auth, limits, idempotency."""

import json
import re
import sqlite3

import requests

from tests.gateway.support import (
    ACME,
    ATTENDANCE_PATH,
    BOREALIS,
    MAX_BODY_BYTES,
    MILESTONES_PATH,
    QR_SCANS_PATH,
    WORK_ORDERS_PATH,
    attendance,
    file_with_request_id,
    files_of,
    milestone,
    qr_scan,
    work_order,
)


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _all_files(landing):
    return sorted(p for p in landing.rglob("*") if p.is_file())


def test_work_order_gets_the_seed_response_and_lands_as_sent(gateway):
    payload = work_order("WO-ERP-452100")

    response = gateway.post(WORK_ORDERS_PATH, payload, "erp-acme")

    assert response.status_code == 200, response.text
    body = response.json()
    assert re.fullmatch(r"WO-\d+", body["mraos_work_order_id"])
    assert body == {
        "status": "success",
        "mraos_work_order_id": body["mraos_work_order_id"],
        "erp_work_order_id": "WO-ERP-452100",
        "message": "Work order created successfully",
        "validation_warnings": [],
    }
    request_id = response.headers["X-Request-ID"]
    [path] = file_with_request_id(gateway.landing, request_id)
    assert path.parent == gateway.landing / ACME / "erp" / "work_orders"
    assert _lines(path) == [payload]


def test_invalid_payload_gets_400_with_every_violation_and_nothing_lands(gateway):
    before = _all_files(gateway.landing)
    payload = work_order("WO-ERP-400")
    del payload["work_order"]["product_id"]
    payload["work_order"]["quantity_ordered"] = 0
    payload["timestamp"] = "2025-11-18 14:23"  # no T, no zone: not an RFC 3339 date-time
    payload["event_type"] = "work_order.deleted"

    response = gateway.post(WORK_ORDERS_PATH, payload, "erp-acme")

    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["error_code"], body["error"]) == (
        "error",
        "INT-003",
        "VALIDATION_ERROR",
    )
    assert {(d["path"], d["validator"]) for d in body["details"]} == {
        ("$.event_type", "enum"),
        ("$.timestamp", "format"),
        ("$.work_order", "required"),
        ("$.work_order.quantity_ordered", "minimum"),
    }
    [missing] = [d for d in body["details"] if d["validator"] == "required"]
    assert "product_id" in missing["message"]

    not_json = requests.post(
        gateway.url + WORK_ORDERS_PATH,
        data=b'{"event_type": ',
        headers={"Authorization": f"Bearer {gateway.clients['erp-acme'].key}"},
        timeout=30,
    )
    assert not_json.status_code == 400
    assert not_json.json()["details"][0]["validator"] == "json"
    assert _all_files(gateway.landing) == before
    # kept for review (003 §7.1), with the body as received
    with sqlite3.connect(gateway.data_dir / "gateway" / "state.sqlite3") as state:
        kept = state.execute(
            "select client_id, tenant_id, body from rejected_requests where endpoint = ?",
            ("erp_work_orders",),
        ).fetchall()
    assert ("erp-acme", ACME, '{"event_type": ') in kept
    assert any("WO-ERP-400" in row[2] for row in kept)


def test_missing_or_unknown_key_gets_401(gateway):
    before = _all_files(gateway.landing)
    payload = work_order("WO-ERP-401")
    attempts = [
        {},
        {"Authorization": "Bearer not-a-configured-key"},
        {"Authorization": f"Basic {gateway.clients['erp-acme'].key}"},
        {"X-API-Key": "not-a-configured-key"},
    ]
    for headers in attempts:
        response = gateway.post(WORK_ORDERS_PATH, payload, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error_code"] == "INT-001"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert _all_files(gateway.landing) == before


def test_duplicate_work_order_gets_409_with_the_existing_id(gateway):
    first = gateway.post(WORK_ORDERS_PATH, work_order("WO-ERP-409"), "erp-acme")
    assert first.status_code == 200
    existing_id = first.json()["mraos_work_order_id"]

    # the same event again, its timestamp written with another offset for the same instant
    again = gateway.post(
        WORK_ORDERS_PATH,
        work_order("WO-ERP-409", timestamp="2025-11-18T22:23:45.678+08:00"),
        "erp-acme",
    )
    assert again.status_code == 409
    body = again.json()
    assert body["mraos_work_order_id"] == existing_id
    assert body["erp_work_order_id"] == "WO-ERP-409"
    assert body["error"] == "DUPLICATE_WORK_ORDER"

    update = gateway.post(
        WORK_ORDERS_PATH,
        work_order("WO-ERP-409", "2025-11-19T08:00:00Z", event_type="work_order.updated"),
        "erp-acme",
    )
    assert update.status_code == 200
    assert update.json()["mraos_work_order_id"] == existing_id
    assert update.json()["message"] == "Work order updated successfully"
    other = gateway.post(WORK_ORDERS_PATH, work_order("WO-ERP-410"), "erp-acme")
    assert other.json()["mraos_work_order_id"] != existing_id

    landed = [
        p
        for p in files_of(gateway.landing, ACME, "erp", "work_orders")
        if _lines(p)[0]["work_order"]["erp_work_order_id"] == "WO-ERP-409"
    ]
    assert sorted(_lines(p)[0]["timestamp"] for p in landed) == [
        "2025-11-18T14:23:45.678Z",
        "2025-11-19T08:00:00Z",
    ]


def test_idempotency_key_replays_the_first_response_without_a_second_write(gateway):
    folder_before = files_of(gateway.landing, ACME, "hr", "attendance")
    payload = attendance("EMP-IDEM-1")
    key = {"Idempotency-Key": "clk_in_EMP-IDEM-1_20251118_060215"}

    first = gateway.post(ATTENDANCE_PATH, payload, "hr-acme", api_key_header=True, headers=key)
    repeat = gateway.post(ATTENDANCE_PATH, payload, "hr-acme", api_key_header=True, headers=key)

    assert first.status_code == repeat.status_code == 200
    assert (
        first.json()
        == repeat.json()
        == {
            "status": "success",
            "request_id": first.headers["X-Request-ID"],
            "records_accepted": 1,
        }
    )
    assert repeat.headers["X-Request-ID"] == first.headers["X-Request-ID"]
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    after = files_of(gateway.landing, ACME, "hr", "attendance")
    new_files = sorted(set(after) - set(folder_before))
    assert len(new_files) == 1 and _lines(new_files[0]) == [payload]

    changed = gateway.post(
        ATTENDANCE_PATH,
        attendance("EMP-IDEM-1", event_type="clock_out"),
        "hr-acme",
        api_key_header=True,
        headers=key,
    )
    assert changed.status_code == 422
    assert changed.json()["error"] == "IDEMPOTENCY_KEY_REUSED"
    # keys belong to their client: another client may use the same key for its own request
    other = gateway.post(ATTENDANCE_PATH, payload, "erp-borealis", headers=key)
    assert other.status_code == 200 and "Idempotent-Replayed" not in other.headers
    assert len(set(files_of(gateway.landing, ACME, "hr", "attendance")) - set(folder_before)) == 1


def test_rate_limit_gets_429_with_retry_after(gateway):
    before = files_of(gateway.landing, ACME, "hr", "attendance")
    statuses = []
    for minute in range(5):
        response = gateway.post(
            ATTENDANCE_PATH, attendance("EMP-RATE", f"2025-11-18T06:0{minute}:00Z"), "slow-acme"
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            limited = response
    assert statuses == [200, 200, 200, 429, 429]  # 3 per minute for this client
    assert limited.json()["error_code"] == "INT-002"
    # 3 per minute refill one request every 20 s
    assert 1 <= int(limited.headers["Retry-After"]) <= 20
    assert len(files_of(gateway.landing, ACME, "hr", "attendance")) == len(before) + 3
    # other clients have their own bucket
    assert gateway.post(ATTENDANCE_PATH, attendance("EMP-RATE-2"), "hr-acme").status_code == 200


def test_oversized_body_gets_413_with_or_without_content_length(gateway):
    before = _all_files(gateway.landing)
    payload = work_order("WO-ERP-413")
    payload["work_order"]["special_instructions"] = "x" * MAX_BODY_BYTES
    response = gateway.post(WORK_ORDERS_PATH, payload, "erp-acme")
    assert response.status_code == 413
    assert response.json()["error"] == "PAYLOAD_TOO_LARGE"

    data = json.dumps(payload).encode()
    chunked = requests.post(  # a generator body is sent chunked: no Content-Length to trust
        gateway.url + WORK_ORDERS_PATH,
        data=(data[i : i + 8192] for i in range(0, len(data), 8192)),
        headers={
            "Authorization": f"Bearer {gateway.clients['erp-acme'].key}",
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert chunked.status_code == 413
    assert _all_files(gateway.landing) == before


def test_tenant_comes_from_the_client_never_from_the_body(gateway):
    payload = work_order("WO-ERP-TENANT")
    payload["tenant_id"] = BOREALIS
    payload["tenantId"] = BOREALIS

    from_acme = gateway.post(WORK_ORDERS_PATH, payload, "erp-acme")
    from_borealis = gateway.post(WORK_ORDERS_PATH, payload, "erp-borealis")

    # the same ERP id and timestamp is no duplicate across tenants
    assert from_acme.status_code == from_borealis.status_code == 200
    [acme_file] = file_with_request_id(gateway.landing, from_acme.headers["X-Request-ID"])
    [borealis_file] = file_with_request_id(gateway.landing, from_borealis.headers["X-Request-ID"])
    assert acme_file.relative_to(gateway.landing).parts[0] == ACME
    assert borealis_file.relative_to(gateway.landing).parts[0] == BOREALIS
    acme_ids = {
        _lines(p)[0]["work_order"]["erp_work_order_id"]
        for p in files_of(gateway.landing, ACME, "erp", "work_orders")
    }
    borealis_ids = {
        _lines(p)[0]["work_order"]["erp_work_order_id"]
        for p in files_of(gateway.landing, BOREALIS, "erp", "work_orders")
    }
    assert borealis_ids == {"WO-ERP-TENANT"}  # nothing else pushed by acme lands under borealis
    assert "WO-ERP-TENANT" in acme_ids


def test_milestones_and_qr_scans_land_one_file_per_push(gateway):
    single = gateway.post(MILESTONES_PATH, milestone("PO-GW-1", "dyeing"), "erp-acme")
    batch = [milestone("PO-GW-2", stage) for stage in ("yarn_received", "knitting", "dyeing")]
    many = gateway.post(MILESTONES_PATH, {"milestones": batch}, "erp-acme")
    scans = [qr_scan(f"SCN-GW-{i}") for i in range(4)]
    scanned = gateway.post(QR_SCANS_PATH, {"scans": scans}, "erp-acme")
    one_scan = gateway.post(QR_SCANS_PATH, qr_scan("SCN-GW-9", "packed"), "erp-acme")

    for response, count in ((single, 1), (many, 3), (scanned, 4), (one_scan, 1)):
        assert response.status_code == 200, response.text
        assert response.json()["records_accepted"] == count
    [single_file] = file_with_request_id(gateway.landing, single.headers["X-Request-ID"])
    assert single_file.parent == gateway.landing / ACME / "factory" / "production_milestones"
    assert _lines(single_file) == [milestone("PO-GW-1", "dyeing")]
    [many_file] = file_with_request_id(gateway.landing, many.headers["X-Request-ID"])
    assert _lines(many_file) == batch
    [scan_file] = file_with_request_id(gateway.landing, scanned.headers["X-Request-ID"])
    assert scan_file.parent == gateway.landing / ACME / "factory" / "qr_scans"
    assert _lines(scan_file) == scans

    bad = [milestone("PO-GW-3"), dict(milestone("PO-GW-3"), stage="sewing")]
    rejected = gateway.post(MILESTONES_PATH, {"milestones": bad}, "erp-acme")
    assert rejected.status_code == 400
    assert [(d["path"], d["validator"]) for d in rejected.json()["details"]] == [
        ("$.milestones[1].stage", "enum")
    ]
    no_worker = dict(qr_scan("SCN-GW-10"), workerId=" ")
    assert gateway.post(QR_SCANS_PATH, no_worker, "erp-acme").status_code == 400


def test_no_key_appears_in_logs_state_or_landing(gateway):
    gateway.post(WORK_ORDERS_PATH, work_order("WO-ERP-SECRET"), "erp-acme")
    gateway.post(
        WORK_ORDERS_PATH, work_order("WO-ERP-SECRET-2"), headers={"Authorization": "Bearer tlk_x"}
    )
    gateway.post(ATTENDANCE_PATH, {"bad": 1}, "hr-acme", api_key_header=True)
    written = [gateway.log_path, *(p for p in gateway.data_dir.rglob("*") if p.is_file())]
    blob = b"".join(p.read_bytes() for p in written)
    assert b"WO-ERP-SECRET" in blob  # the scan reads what was written
    for client in gateway.clients.values():
        assert client.key.encode() not in blob
    assert b"tlk_x" not in blob


def test_non_standard_json_is_refused_with_400(gateway):
    headers = {
        "Authorization": f"Bearer {gateway.clients['erp-acme'].key}",
        "Content-Type": "application/json",
    }
    valid = json.dumps(work_order("WO-ERP-STRICT"))
    bodies = [
        valid.replace('"quantity_ordered": 200', '"quantity_ordered": NaN').encode(),
        valid.replace("Door Panel", "Door \\ud800 Panel").encode(),  # lone surrogate
        valid.replace("Door Panel", "Door Panel").encode("utf-16"),
        # nested 30,000 levels (past the interpreter's recursion limit, under the size limit)
        b"[" * 30_000 + b"]" * 30_000,
        # nested past the gateway's depth limit, shallow enough to parse
        valid.replace('"Door Panel"', "[" * 100 + '"Door Panel"' + "]" * 100).encode(),
    ]
    before = _all_files(gateway.landing)
    for data in bodies:
        response = requests.post(
            gateway.url + WORK_ORDERS_PATH, data=data, headers=headers, timeout=30
        )
        assert response.status_code == 400, response.text
        assert response.json()["details"][0]["validator"] == "json"
    assert _all_files(gateway.landing) == before
