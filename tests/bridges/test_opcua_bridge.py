"""The OPC-UA bridge against a real asyncua server (issue 14, 003 §4.2.1).

The server is the demo one (:func:`traceloom_pipelines.demo.opcua_server.serve_machines`), run in
a thread of the test process on a free port, so the test can stop and restart it quickly. The
bridges run as real ``traceloom opcua-bridge`` subprocesses with a 0.5 s publishing interval:
bridge A writes a batch every 0.5 s and goes through the server's restart; bridge B keeps its
batch open until SIGTERM. Drop files are landed with the landing code itself (no Dagster job,
no dbt).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from traceloom_pipelines.bridges.health import health_path
from traceloom_pipelines.bridges.opcua_config import OpcuaSettings
from traceloom_pipelines.bridges.opcua_nodes import FIELDS, json_value, sample_line, sample_record
from traceloom_pipelines.cli import main as cli_main
from traceloom_pipelines.demo.opcua_server import serve_machines
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.resources import PROJECT_ROOT
from traceloom_pipelines.sources.mes.contract import machine_status, machines

WAIT_S = 120  # generous: the machine is busy
TENANT = "acme"
MACHINES = ("M-1", "M-2", "M-3")
FILE_NAME = re.compile(r"opcua-\d{8}T\d{12}Z-\d+-\d{6}\.jsonl")


# -- helpers --------------------------------------------------------------------------------
def _wait(predicate, what: str, timeout: float = WAIT_S, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """The demo OPC-UA server in a thread of this process."""

    def __init__(self, landing: Path, port: int):
        self.ready, self.error = threading.Event(), None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None

        async def main() -> None:
            self.loop, self.stop_event = asyncio.get_running_loop(), asyncio.Event()
            await serve_machines(
                landing,
                TENANT,
                port=port,
                interval=0.5,
                stop=self.stop_event,
                on_ready=lambda *_: self.ready.set(),
            )

        def target() -> None:
            try:
                asyncio.run(main())
            except BaseException as error:  # noqa: BLE001 - reported to the test
                self.error = error
                self.ready.set()

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        assert self.ready.wait(WAIT_S) and self.error is None, f"server failed: {self.error!r}"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive(), "the server did not stop"


class Bridge:
    """``traceloom opcua-bridge`` as a subprocess."""

    def __init__(self, data_dir: Path, port: int, env: dict[str, str]):
        self.data_dir = data_dir
        self.log = data_dir.parent / f"{data_dir.name}-bridge.log"
        full_env = {
            **os.environ,
            "TRACELOOM_OPCUA_URL": f"opc.tcp://127.0.0.1:{port}/",
            "TRACELOOM_OPCUA_TENANT": TENANT,
            "TRACELOOM_OPCUA_INTERVAL_SECONDS": "0.5",
            "TRACELOOM_OPCUA_KEEPALIVE_SECONDS": "5",
            "TRACELOOM_OPCUA_RECONNECT_MAX_SECONDS": "1",
            "TRACELOOM_OPCUA_HEALTH_SECONDS": "0.2",
            **env,
        }
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "traceloom_pipelines.cli", "--data-dir", str(data_dir)]
                + ["opcua-bridge"],
                cwd=PROJECT_ROOT,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def connected(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"bridge exited {self.process.returncode}: {self.log.read_text()}")
        health = self.health()
        return health.get("pid") == self.process.pid and health.get("connected") is True

    def health(self) -> dict:
        try:
            return json.loads(health_path(self.data_dir, "opcua").read_text())
        except (OSError, ValueError):
            return {}

    def terminate(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def _folder(data_dir: Path) -> Path:
    return data_dir / "landing" / TENANT / "mes" / "machine_status"


def _samples(data_dir: Path) -> list[dict]:
    folder = _folder(data_dir)
    paths = sorted(folder.glob("opcua-*.jsonl")) if folder.is_dir() else []
    return [json.loads(line) for p in paths for line in p.read_text().splitlines() if line]


def _write_world(data_dir: Path) -> None:
    """A machine registry of three machines and one MES job for M-1, as the demo writes them."""
    mes = data_dir / "landing" / TENANT / "mes"
    (mes / "machines").mkdir(parents=True)
    registry = [
        {
            "machine_id": machine_id,
            "factory": "FAC-1",
            "line": "L1",
            "machine_type": "sewing",
            "ideal_cycle_time_seconds": 40,
            "is_active": True,
        }
        for machine_id in MACHINES
    ]
    (mes / "machines" / "machines_FAC-1.json").write_text(json.dumps({"machines": registry}))
    (mes / "work_orders").mkdir()
    job = {"JobNumber": "WO-4600", "MachineId": "M-1", "Status": "InProgress"}
    (mes / "work_orders" / "work_orders_2026-01-01.json").write_text(json.dumps([job]))


def _land(data_dir: Path):
    con = connect(data_dir)
    try:
        land_entity(con, machines, data_dir / "landing")
        result = land_entity(con, machine_status, data_dir / "landing")
        rows = run(
            con,
            "select tenant_id, MachineId, count(*) from raw.mes__machine_status group by all "
            "order by all",
        )
        return result, rows
    finally:
        con.close()


# -- the plant: one server, two bridges ------------------------------------------------------
@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    root = tmp_path_factory.mktemp("opcua")
    data_dir, flush_dir = root / "data", root / "flush"
    _write_world(data_dir)
    port = _free_port()
    state = {"port": port, "data_dir": data_dir, "flush_dir": flush_dir}
    state["server"] = ServerThread(data_dir / "landing", port)
    state["bridge"] = Bridge(data_dir, port, {"TRACELOOM_OPCUA_BATCH_SECONDS": "0.5"})
    state["flush"] = Bridge(
        flush_dir,
        port,
        {"TRACELOOM_OPCUA_BATCH_SECONDS": "600", "TRACELOOM_OPCUA_BATCH_SAMPLES": "100000"},
    )
    try:
        _wait(state["bridge"].connected, "bridge A to connect")
        _wait(state["flush"].connected, "bridge B to connect")
        yield state
    finally:
        for name in ("bridge", "flush"):
            state[name].terminate()
        state["server"].stop()


def test_samples_of_every_machine_land_in_the_contract_shape(plant):
    data_dir = plant["data_dir"]

    def two_samples_each() -> bool:
        seen = [s["MachineId"] for s in _samples(data_dir)]
        return all(seen.count(m) >= 2 for m in MACHINES)

    _wait(two_samples_each, "two samples of every machine in drop files")
    samples = _samples(data_dir)
    assert all(list(s) == ["MachineId", *FIELDS] for s in samples)
    assert {s["MachineId"] for s in samples} == set(MACHINES)
    assert all(s["LastUpdateTimestamp"].endswith("Z") for s in samples)
    assert all(s["CurrentWorkOrderId"] in (None, "WO-4600") for s in samples)
    # one sample per machine and update: the values of one update are never split
    assert len({(s["MachineId"], s["LastUpdateTimestamp"]) for s in samples}) == len(samples)
    assert all(FILE_NAME.fullmatch(p.name) for p in _folder(data_dir).iterdir())
    # the tenant's status samples, and the bridge's own health samples (issue #14 §5)
    assert {p.name for p in (data_dir / "landing").iterdir()} == {TENANT, "platform"}
    health = [
        json.loads(p.read_text())
        for p in (data_dir / "landing" / "platform" / "bridges" / "health").glob("opcua-*")
    ]  # the first health write's, then one a minute
    assert health and all(h["bridge"] == "opcua" and h["running"] for h in health)
    assert all(f":{plant['port']}" in h["endpoint"] for h in health)

    result, rows = _land(data_dir)
    total = result.total
    assert total.rows_quarantined == 0
    assert total.rows_landed + total.rows_duplicate == total.rows_read >= len(samples)
    assert [(tenant, machine) for tenant, machine, _ in rows] == [(TENANT, m) for m in MACHINES]


def test_server_restart_bridge_reconnects_and_samples_resume(plant):
    bridge, data_dir = plant["bridge"], plant["data_dir"]
    _wait(lambda: bridge.health().get("samples_written", 0) > 0, "a first drop file")
    plant["server"].stop()
    _wait(lambda: bridge.health().get("connected") is False, "the bridge to see the server go")
    restarted_at = datetime.now(UTC)
    plant["server"] = ServerThread(data_dir / "landing", plant["port"])
    _wait(
        lambda: bridge.health().get("reconnects", 0) >= 1 and bridge.connected(),
        "the bridge to reconnect",
    )

    def resumed() -> bool:
        fresh = {
            s["MachineId"]
            for s in _samples(data_dir)
            if datetime.fromisoformat(s["LastUpdateTimestamp"]) > restarted_at
        }
        return fresh == set(MACHINES)

    _wait(resumed, "samples of every machine from the restarted server")
    assert bridge.terminate() == 0
    health = bridge.health()
    assert health["running"] is False and health["connected"] is False
    assert health["reconnects"] >= 1
    assert health["samples_written"] == health["samples_received"] == len(_samples(data_dir))
    assert health["last_drop_file"].startswith(f"{TENANT}/mes/machine_status/opcua-")
    assert 0 <= health["lag_seconds"] < 600
    assert {"samples_per_second", "machines", "monitored_items"} <= health.keys()

    result, rows = _land(data_dir)  # the files written since the first test
    assert result.total.rows_quarantined == 0 and result.total.rows_landed > 0
    assert [(tenant, machine) for tenant, machine, _ in rows] == [(TENANT, m) for m in MACHINES]


def test_sigterm_writes_the_open_batch(plant):
    bridge, flush_dir = plant["flush"], plant["flush_dir"]
    _wait(
        lambda: bridge.health().get("samples_received", 0) >= 2 * len(MACHINES),
        "two rounds of samples",
    )
    assert not _samples(flush_dir), "the batch is open until SIGTERM"
    assert bridge.terminate() == 0
    health = bridge.health()
    samples = _samples(flush_dir)
    assert health["samples_written"] == health["samples_received"] == len(samples) > 0
    assert len(list(_folder(flush_dir).glob("opcua-*.jsonl"))) == 1
    assert not list(_folder(flush_dir).glob("*.part"))


# -- settings, values, the demo command ---------------------------------------------------
def test_settings_come_from_the_environment_and_hide_the_password():
    settings = OpcuaSettings.from_env(
        {
            "TRACELOOM_OPCUA_URL": "opc.tcp://mes-server.plant:4840/mes",
            "TRACELOOM_OPCUA_TENANT": "acme",
            "TRACELOOM_OPCUA_USERNAME": "traceloom",
            "TRACELOOM_OPCUA_PASSWORD": "s3cret-pw",
            "TRACELOOM_OPCUA_NODES": "ns=2;s=MES.Machines.M-203.Status, ns=2;i=17",
        }
    )
    assert settings.url == "opc.tcp://mes-server.plant:4840/mes"
    assert settings.interval_seconds == 30.0  # the seed's SubscriptionInterval
    assert settings.nodes == ("ns=2;s=MES.Machines.M-203.Status", "ns=2;i=17")
    assert "s3cret-pw" not in repr(settings)
    for bad in (
        {},
        {"TRACELOOM_OPCUA_TENANT": "../etc"},
        {"TRACELOOM_OPCUA_TENANT": "acme", "TRACELOOM_OPCUA_URL": "opc.tcp://u:p@host:4840"},
        {"TRACELOOM_OPCUA_TENANT": "acme", "TRACELOOM_OPCUA_URL": "http://host:4840"},
        {"TRACELOOM_OPCUA_TENANT": "acme", "TRACELOOM_OPCUA_INTERVAL_SECONDS": "0"},
        {"TRACELOOM_OPCUA_TENANT": "acme", "TRACELOOM_OPCUA_NODES": "MES.Machines.M-1"},
        {"TRACELOOM_OPCUA_TENANT": "acme", "TRACELOOM_OPCUA_SECURITY": "Basic256Sha256,None"},
        {"TRACELOOM_OPCUA_TENANT": "acme", "TRACELOOM_OPCUA_PASSWORD": "pw"},
    ):
        with pytest.raises(ValueError):
            OpcuaSettings.from_env(bad)


def test_node_values_become_the_contract_fields():
    naive = datetime(2025, 11, 18, 14, 25, 30, 123000)
    assert json_value(naive) == "2025-11-18T14:25:30.123Z"
    assert json_value("") is None and json_value(float("nan")) == "nan"
    values = {"CurrentStatus": "Running", "UtilizationPercentage": 85.2}
    record = sample_record("M-203", values, source_time=naive)
    assert record["MachineId"] == "M-203" and record["CurrentWorkOrderId"] is None
    assert record["LastUpdateTimestamp"] == "2025-11-18T14:25:30.123Z"  # the source time
    assert sample_line(record) == sample_line(sample_record("M-203", values, naive))


def test_demo_server_without_a_machine_registry_refuses(tmp_path, capsys):
    assert cli_main(["--data-dir", str(tmp_path), "demo", "opcua-serve", "--port", "0"]) == 2
    assert "no machine registry" in capsys.readouterr().err
