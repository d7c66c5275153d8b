"""Helpers for the gateway tests: start the real `traceloom gateway` (uvicorn) as a subprocess on a
loopback port, and the seed payloads the tests push."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from traceloom_pipelines.gateway.auth import key_sha256
from traceloom_pipelines.resources import PROJECT_ROOT

WORK_ORDERS_PATH = "/api/v1/integrations/erp/work-orders"
ATTENDANCE_PATH = "/api/v1/integrations/hr/attendance"
MILESTONES_PATH = "/api/v1/integrations/factory/milestones"
QR_SCANS_PATH = "/api/v1/integrations/factory/qr-scans"

ACME = "acme-apparel"
BOREALIS = "borealis-appliances"
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class PushClient:
    client_id: str
    tenant_id: str
    key: str
    rate_per_minute: int


def make_clients() -> dict[str, PushClient]:
    """Fresh random keys for: ERP of each tenant, HR of acme, and a client limited to 3/min."""
    specs = [
        ("erp-acme", ACME, 10_000),
        ("erp-borealis", BOREALIS, 10_000),
        ("hr-acme", ACME, 10_000),
        ("slow-acme", ACME, 3),
    ]
    return {
        name: PushClient(name, tenant, f"tlk_{secrets.token_urlsafe(24)}", rate)
        for name, tenant, rate in specs
    }


def clients_env(clients: dict[str, PushClient]) -> str:
    return ",".join(
        f"{c.client_id}:{c.tenant_id}:{key_sha256(c.key)}:{c.rate_per_minute}"
        for c in clients.values()
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningGateway:
    """A gateway subprocess: its URL, data directory, process and log file."""

    url: str
    data_dir: Path
    process: subprocess.Popen
    log_path: Path
    clients: dict[str, PushClient] = field(default_factory=dict)

    @property
    def landing(self) -> Path:
        return self.data_dir / "landing"

    def post(
        self,
        path: str,
        body: object,
        client: str | None = None,
        *,
        api_key_header: bool = False,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> requests.Response:
        sent = dict(headers or {})
        if client is not None:
            key = self.clients[client].key
            if api_key_header:
                sent["X-API-Key"] = key
            else:
                sent["Authorization"] = f"Bearer {key}"
        return requests.post(self.url + path, json=body, headers=sent, timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gateway(
    data_dir: Path, clients: dict[str, PushClient], log_name: str = "gateway.log"
) -> RunningGateway:
    """Start ``traceloom gateway`` on a free loopback port and wait until ``/healthz`` answers."""
    port = free_port()
    env = dict(os.environ)
    env.pop("TRACELOOM_GATEWAY_CLIENTS_FILE", None)
    env["TRACELOOM_GATEWAY_CLIENTS"] = clients_env(clients)
    env["TRACELOOM_GATEWAY_MAX_BODY_BYTES"] = str(MAX_BODY_BYTES)
    log_path = data_dir.parent / f"{data_dir.name}-{log_name}"
    log_file = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "traceloom_pipelines.cli",
            "--data-dir",
            str(data_dir),
            "gateway",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()
    gateway = RunningGateway(f"http://127.0.0.1:{port}", data_dir, process, log_path, clients)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited ({process.returncode}):\n{log_path.read_text()}")
        try:
            if requests.get(gateway.url + "/healthz", timeout=2).status_code == 200:
                return gateway
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    gateway.stop()
    raise RuntimeError(f"gateway did not come up:\n{log_path.read_text()}")


def files_of(landing: Path, tenant: str, system: str, entity: str) -> list[Path]:
    """Complete drop files (no ``.part``) in one tenant's drop folder, sorted."""
    folder = landing / tenant / system / entity
    return sorted(p for p in folder.glob("*.jsonl")) if folder.is_dir() else []


def file_with_request_id(landing: Path, request_id: str) -> list[Path]:
    return sorted(landing.rglob(f"gw-*-{request_id}.jsonl"))


def work_order(
    erp_id: str = "WO-ERP-452100",
    timestamp: str = "2025-11-18T14:23:45.678Z",
    event_type: str = "work_order.created",
) -> dict:
    """The 003 §3.2.1 work-order webhook payload, with its ids and time replaceable."""
    return {
        "event_type": event_type,
        "timestamp": timestamp,
        "work_order": {
            "erp_work_order_id": erp_id,
            "work_order_number": erp_id.rsplit("-", 1)[-1],
            "product_id": "PROD-WD-100",
            "product_name": "Washer Door Assembly",
            "product_variant": "Standard - White",
            "quantity_ordered": 200,
            "unit_of_measure": "EA",
            "priority": "high",
            "due_date": "2025-11-18T14:30:00Z",
            "customer_order_id": "CO-12345",
            "production_line_preference": "Line 2",
            "bill_of_materials": [
                {
                    "material_id": "MAT-A-1234",
                    "part_number": "A-1234",
                    "part_name": "Door Panel",
                    "quantity_required": 400,
                    "unit_of_measure": "EA",
                },
                {
                    "material_id": "MAT-B-5678",
                    "part_number": "B-5678",
                    "part_name": "Hinge Assembly",
                    "quantity_required": 200,
                    "unit_of_measure": "EA",
                },
            ],
            "special_instructions": "Quality inspection required before packaging",
        },
    }


def attendance(
    employee_id: str = "EMP-2024-0156",
    timestamp: str = "2025-11-18T06:02:15Z",
    event_type: str = "clock_in",
) -> dict:
    """The 003 §5.2.1 attendance webhook payload."""
    return {
        "event_type": event_type,
        "timestamp": timestamp,
        "employee_id": employee_id,
        "location": "Plant 1 - Entrance A",
        "shift_id": "SH-20251118-A",
    }


def milestone(po_id: str = "PO-2026-000001", stage: str = "knitting") -> dict:
    """A 000 §2.2 production milestone in the production_milestones drop shape."""
    return {
        "poId": po_id,
        "factory": "FAC-DG-01",
        "stage": stage,
        "workOrderId": "FWO-1001",
        "machineLine": "KN-03",
        "plannedStart": "2026-11-03T08:00:00+08:00",
        "plannedEnd": "2026-11-06T18:00:00+08:00",
        "actualStart": "2026-11-03T08:40:00+08:00",
        "actualEnd": None,
        "qaResult": None,
        "updatedAt": "2026-11-04T09:15:00Z",
    }


def qr_scan(scan_id: str = "SCN-0001", event_type: str = "completed") -> dict:
    """A 000 §2.3 worker QR scan in the qr_scans contract shape."""
    return {
        "scanId": scan_id,
        "scannedAt": "2026-11-04T09:15:07+08:00",
        "qrCode": f"TLQR:BUNDLE:{scan_id}",
        "unitType": "bundle",
        "eventType": event_type,
        "stage": "knitting",
        "poId": "PO-2026-000001",
        "workOrderId": "FWO-1001",
        "factory": "FAC-DG-01",
        "location": "Knitting line 3 / station 2",
        "workerId": "W-0042",
        "deviceId": "APP-7F3A",
        "quantity": 24,
        "qaResult": None,
    }
