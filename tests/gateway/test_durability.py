"""kill -9 of the gateway mid-stream loses nothing it acknowledged; its state survives a restart;
what it wrote lands through the real landing into DuckDB."""

import json
import os
import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from tests.gateway.support import (
    ACME,
    ATTENDANCE_PATH,
    BOREALIS,
    MILESTONES_PATH,
    QR_SCANS_PATH,
    WORK_ORDERS_PATH,
    attendance,
    file_with_request_id,
    make_clients,
    milestone,
    qr_scan,
    start_gateway,
    work_order,
)
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.readers import list_drop_files
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.sources.erp.contract import work_orders
from traceloom_pipelines.sources.factory.contract import production_milestones, qr_scans
from traceloom_pipelines.sources.hr.contract import attendance as attendance_entity

REQUESTS = 200
KILL_AFTER_ACKNOWLEDGED = 40
ENTITIES = (work_orders, attendance_entity, production_milestones, qr_scans)
FOLDERS = {
    WORK_ORDERS_PATH: ("erp", "work_orders"),
    ATTENDANCE_PATH: ("hr", "attendance"),
    MILESTONES_PATH: ("factory", "production_milestones"),
    QR_SCANS_PATH: ("factory", "qr_scans"),
}


@dataclass(frozen=True)
class Push:
    path: str
    client: str
    tenant: str
    body: dict
    records: tuple[str, ...]  # canonical JSON of each record the body lands as
    idempotency_key: str | None


def _canonical(record: dict) -> str:
    return json.dumps(record, sort_keys=True)


def _pushes() -> list[Push]:
    """Unique payloads of every kind, both tenants; work orders of every 5th push carry no key."""
    pushes = []
    for i in range(REQUESTS):
        kind = i % 5
        client, tenant = ("erp-acme", ACME) if i % 2 else ("erp-borealis", BOREALIS)
        key: str | None = f"kill9-{i:04d}"
        if kind in (0, 1):
            body = work_order(f"WO-ERP-K{i:04d}", f"2025-11-18T14:{i // 60:02d}:{i % 60:02d}Z")
            records, path = [body], WORK_ORDERS_PATH
            if kind == 1:
                key = None
        elif kind == 2:
            client, tenant = "hr-acme", ACME
            body = attendance(f"EMP-K{i:04d}")
            records, path = [body], ATTENDANCE_PATH
        elif kind == 3:
            records = [milestone(f"PO-K{i:04d}", s) for s in ("knitting", "dyeing")]
            body, path = {"milestones": records}, MILESTONES_PATH
        else:
            records = [qr_scan(f"SCN-K{i:04d}-{n}") for n in range(3)]
            body, path = {"scans": records}, QR_SCANS_PATH
        pushes.append(Push(path, client, tenant, body, tuple(_canonical(r) for r in records), key))
    return pushes


def _send(gateway, push: Push) -> requests.Response:
    headers = {"Idempotency-Key": push.idempotency_key} if push.idempotency_key else {}
    return gateway.post(push.path, push.body, push.client, headers=headers, timeout=60)


def _file_records(path) -> tuple[str, ...]:
    """Every line of a drop file as canonical JSON (fails if any line is not complete JSON)."""
    return tuple(_canonical(json.loads(line)) for line in path.read_text().splitlines())


@pytest.mark.chaos
def test_kill_9_mid_stream_loses_nothing_acknowledged_and_state_survives_restart(tmp_path, chaos):
    clients = make_clients()
    data_dir = tmp_path / "data"
    landing = data_dir / "landing"
    pushes = _pushes()
    gateway = start_gateway(data_dir, clients)

    answers: dict[int, requests.Response | Exception] = {}
    acknowledged = threading.Semaphore(0)
    lock = threading.Lock()

    def send(index: int) -> None:
        try:
            response = _send(gateway, pushes[index])
        except requests.RequestException as error:
            with lock:
                answers[index] = error
            return
        with lock:
            answers[index] = response
        if response.status_code == 200:
            acknowledged.release()

    def kill_when_enough_acknowledged() -> None:
        for _ in range(KILL_AFTER_ACKNOWLEDGED):
            if not acknowledged.acquire(timeout=120):
                break
        os.kill(gateway.process.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_enough_acknowledged)
    killer.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, range(len(pushes))))
    killer.join()
    assert gateway.process.wait(timeout=30) == -signal.SIGKILL

    ok = {i: r for i, r in answers.items() if isinstance(r, requests.Response)}
    lost = {i for i, r in answers.items() if not isinstance(r, requests.Response)}
    assert len(ok) >= KILL_AFTER_ACKNOWLEDGED and lost, "the kill must land mid-stream"
    assert {r.status_code for r in ok.values()} == {200}

    # every acknowledged push is on disk, complete, in its tenant's folder, exactly as sent
    for index, response in ok.items():
        push = pushes[index]
        [path] = file_with_request_id(landing, response.headers["X-Request-ID"])
        system, entity = FOLDERS[push.path]
        assert path.parent == landing / push.tenant / system / entity
        assert _file_records(path) == push.records
    # landing never sees a half-written file: what it lists is complete JSON, never a .part
    partial = set(landing.rglob("*.part"))
    for entity in ENTITIES:
        for drop in list_drop_files(landing, entity):
            assert not drop.path.name.endswith(".part") and drop.path not in partial
            _file_records(drop.path)

    # restart on the same data directory: idempotency and duplicate state survived
    restarted = start_gateway(data_dir, clients, log_name="gateway-restart.log")
    try:
        for index, push in enumerate(pushes):
            again = _send(restarted, push)
            if index in ok and push.idempotency_key:
                assert again.status_code == 200
                assert again.headers["Idempotent-Replayed"] == "true"
                assert again.headers["X-Request-ID"] == ok[index].headers["X-Request-ID"]
                assert again.json() == ok[index].json()
            elif index in ok:  # a work order without a key, acknowledged before the kill
                assert again.status_code == 409
                assert (
                    again.json()["mraos_work_order_id"] == (ok[index].json()["mraos_work_order_id"])
                )
            else:  # never acknowledged: accepted now, or found written by the recovery
                assert again.status_code in (200, 409), again.text
    finally:
        restarted.stop()

    # now every push is in exactly one drop file: none lost, none written twice
    files = [d.path for e in ENTITIES for d in list_drop_files(landing, e)]
    written = Counter(_file_records(path) for path in files)
    chaos.record(
        "kill -9 of the push gateway mid-stream, then a restart and resend",
        lost=sum(written[push.records] == 0 for push in pushes),
        duplicated=sum(max(0, written[push.records] - 1) for push in pushes),
        detail=f"{len(pushes)} pushes",
    )
    assert len(files) == len(pushes)
    assert all(written[push.records] == 1 for push in pushes)

    # and the real landing takes them into DuckDB through the source contracts
    con = connect(tmp_path)
    try:
        for entity in ENTITIES:
            result = land_entity(con, entity, landing)
            assert result.total.rows_quarantined == 0, result.total.reasons
            assert result.total.balanced

        def landed(table: str) -> dict[str, int]:
            rows = run(con, f"select tenant_id, count(*) from raw.{table} group by all")
            return dict(rows)

        def expected(path: str) -> dict[str, int]:
            counts: Counter = Counter()
            for push in pushes:
                if push.path == path:
                    counts[push.tenant] += len(push.records)
            return dict(counts)

        assert landed("erp__work_orders") == expected(WORK_ORDERS_PATH)
        assert landed("erp__work_order_bom_lines") == {
            t: 2 * n for t, n in expected(WORK_ORDERS_PATH).items()
        }
        assert landed("hr__attendance") == expected(ATTENDANCE_PATH) == {ACME: 40}
        assert landed("factory__production_milestones") == expected(MILESTONES_PATH)
        assert landed("factory__qr_scans") == expected(QR_SCANS_PATH)
        assert run(con, "select count(*) from audit.quarantine") == [(0,)]
        [(quantity, due)] = run(
            con,
            "select quantity_ordered, due_date from raw.erp__work_orders "
            "where erp_work_order_id = 'WO-ERP-K0000'",
        )
        assert quantity == 200 and due.isoformat().startswith("2025-11-18T14:30")
    finally:
        con.close()
