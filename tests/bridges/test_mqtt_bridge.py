"""The MQTT bridge against the real Mosquitto at 127.0.0.1:1883 (issue 14).

Every test uses its own client ids and topic root, so tests (and parallel runs) never see each
other's messages. The bridge runs as the real ``traceloom mqtt-bridge`` subprocess; its drop
files are landed with the landing code itself (no Dagster job, no dbt).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from traceloom_pipelines.bridges.config import MqttSettings
from traceloom_pipelines.bridges.health import health_path
from traceloom_pipelines.bridges.topics import MALFORMED_PREFIX, Unroutable, route, subscriptions
from traceloom_pipelines.bridges.topics import to_line as message_line
from traceloom_pipelines.demo.mqtt_publish import Message, publish, with_defects, world_messages
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.resources import PROJECT_ROOT
from traceloom_pipelines.sources.bridges.contract import health as bridge_health
from traceloom_pipelines.sources.mes.contract import (
    machines,
    production_counts,
    quality_inspections,
)

WAIT_S = 120  # generous: the machine is busy
COUNT_TOPIC = "mes/production/L1/machine/M-1/count"
INSPECTION_TOPIC = "mes/quality/L1/machine/M-1/inspection"


def _broker_up() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=5):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _broker_up(), reason="no MQTT broker at 127.0.0.1:1883")


# -- helpers --------------------------------------------------------------------------------
def _wait(predicate, what: str, timeout: float = WAIT_S, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _health(data_dir: Path) -> dict:
    try:
        return json.loads(health_path(data_dir).read_text())
    except (OSError, ValueError):
        return {}


_bridges: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_bridge_left_running():
    """A test that fails midway leaves no bridge behind (one kept subscribing and writing files
    after a failed test, until killed by hand)."""
    yield
    while _bridges:
        process = _bridges.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)


class Bridge:
    """``traceloom mqtt-bridge`` as a subprocess, ready once its health file says subscribed."""

    def __init__(self, data_dir: Path, env: dict[str, str], log_name: str):
        self.data_dir = data_dir
        self.log = data_dir.parent / f"{data_dir.name}-{log_name}.log"
        full_env = {
            **os.environ,
            "TRACELOOM_MQTT_URL": "mqtt://127.0.0.1:1883",
            "TRACELOOM_MQTT_HEALTH_SECONDS": "0.2",
            **env,
        }
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "traceloom_pipelines.cli", "--data-dir", str(data_dir)]
                + ["mqtt-bridge"],
                cwd=PROJECT_ROOT,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _bridges.append(self.process)
        _wait(self._ready, f"the bridge to subscribe (log {self.log})")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"bridge exited {self.process.returncode}: {self.log.read_text()}")
        health = self.health()
        return health.get("pid") == self.process.pid and health.get("subscribed") is True

    def health(self) -> dict:
        return _health(self.data_dir)

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=60) == -signal.SIGKILL

    def terminate(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def _bridge_env(root: str, client_id: str, **more: str) -> dict[str, str]:
    return {"TRACELOOM_MQTT_TOPIC_ROOT": root, "TRACELOOM_MQTT_CLIENT_ID": client_id, **more}


def _drop_lines(data_dir: Path, tenant: str, entity: str) -> list[str]:
    folder = data_dir / "landing" / tenant / "mes" / entity
    lines: list[str] = []
    for path in sorted(folder.glob("mqtt-*.jsonl")) if folder.is_dir() else []:
        lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    return lines


def _write_machines(data_dir: Path, tenant: str) -> None:
    folder = data_dir / "landing" / tenant / "mes" / "machines"
    folder.mkdir(parents=True, exist_ok=True)
    registry = {
        "machines": [
            {
                "machine_id": "M-1",
                "factory": "FAC-1",
                "line": "L1",
                "machine_type": "sewing",
                "ideal_cycle_time_seconds": 40,
                "is_active": True,
            }
        ]
    }
    (folder / "machines.json").write_text(json.dumps(registry))


def _count(n: int, at: datetime) -> dict:
    return {
        "machine_id": "M-1",
        "work_order_id": "WO-4600",
        "timestamp": (at + timedelta(milliseconds=n)).isoformat(timespec="milliseconds")[:-6] + "Z",
        "units_produced": 1,
        "cumulative_units": n,
        "quality_status": "pass",
        "cycle_time_seconds": 44.8,
    }


def _messages(topic: str, payloads) -> list[tuple[Message, None]]:
    return [(Message(topic, json.dumps(p).encode()), None) for p in payloads]


# -- (a) kill -9 mid-stream: everything in files at least once, landed exactly once --------
@pytest.mark.chaos
@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_kill_9_mid_stream_then_restart_every_message_lands_exactly_once(tmp_path, chaos, protocol):
    """Both MQTT versions keep the session over a kill -9 (MQTT 5: clean start off and a
    session expiry; 3.1.1: clean session off), so what was not acknowledged is redelivered;
    with 3.1.1 batches stay within the broker's window of 20 unacknowledged messages (larger
    ones stalled the broker, whose queue of 1,000 then dropped messages the publisher had
    been acknowledged: 1,020 of 2,000 arrived)."""
    data_dir = tmp_path / "data"
    root = f"tl-test-{uuid.uuid4().hex[:12]}"
    env = _bridge_env(
        root,
        f"{root}-bridge",
        TRACELOOM_MQTT_TENANT_PREFIXES="acme",
        TRACELOOM_MQTT_BATCH_MESSAGES="300",
        TRACELOOM_MQTT_BATCH_SECONDS="0.5",
        TRACELOOM_MQTT_PROTOCOL=protocol,
    )
    topic = f"{root}/acme/{COUNT_TOPIC}"
    start = datetime.now(UTC) - timedelta(minutes=5)
    # While the bridge is down Mosquitto keeps at most 1,000 unacknowledged messages for it and
    # drops the rest (README). On a busy machine the first bridge's acknowledgements can lag far
    # behind its files (one run: 300 written, 120 acknowledged at the kill), so the first stream
    # stays under that limit even if nothing of it was acknowledged.
    first, second = 900, 1100
    payloads = [_count(n, start) for n in range(first + second)]

    bridge = Bridge(data_dir, env, "first")
    publisher = threading.Thread(
        target=publish,
        args=(_messages(topic, payloads[:first]), 1000.0),
        kwargs={"client_id": f"{root}-pub-1"},
    )
    publisher.start()
    _wait(lambda: len(_drop_lines(data_dir, "acme", "production_counts")) >= 300, "a drop file")
    bridge.kill9()
    written_at_kill = len(_drop_lines(data_dir, "acme", "production_counts"))
    publisher.join(timeout=WAIT_S)
    assert written_at_kill < first, "the kill must land mid-stream"

    bridge = Bridge(data_dir, env, "second")
    # the rest, and 20 payloads published again (what a redelivery looks like to the bridge)
    resent = random.Random(1).sample(payloads[:first], 20)
    publish(_messages(topic, payloads[first:] + resent), 5000.0, client_id=f"{root}-pub-2")
    expected = {p["cumulative_units"] for p in payloads}

    def all_in_files() -> bool:
        seen = {
            json.loads(x)["cumulative_units"]
            for x in _drop_lines(data_dir, "acme", "production_counts")
        }
        return seen >= expected

    _wait(all_in_files, "every message in a drop file")
    assert bridge.terminate() == 0
    health = bridge.health()
    assert health["running"] is False and health["connected"] is False
    assert health["last_drop_file"].startswith("acme/mes/production_counts/mqtt-")
    assert 0 <= health["lag_seconds"] < 3600  # payload times are about 5 minutes old
    assert health["messages_written"] == health["messages_received"] >= second + len(resent)
    assert {"messages_per_second", "redeliveries", "reconnects"} <= health.keys()

    lines = _drop_lines(data_dir, "acme", "production_counts")
    _write_machines(data_dir, "acme")
    con = connect(data_dir)
    try:
        land_entity(con, machines, data_dir / "landing")
        result = land_entity(con, production_counts, data_dir / "landing")
        total = result.total
        assert (total.rows_read, total.rows_landed, total.rows_quarantined) == (
            len(lines),
            len(expected),
            0,
        )
        assert total.rows_duplicate == len(lines) - len(expected) >= len(resent)
        rows = run(
            con,
            "select count(*), count(distinct cumulative_units), min(tenant_id), max(tenant_id) "
            "from raw.mes__production_counts",
        )
        chaos.record(
            "kill -9 of the MQTT bridge mid-stream, then a restart"
            + ("" if protocol == "5" else f" (MQTT {protocol})"),
            lost=len(expected) - rows[0][1],
            duplicated=rows[0][0] - rows[0][1],
            detail=f"{len(expected)} messages",
        )
        assert rows == [(len(expected), len(expected), "acme", "acme")]
    finally:
        con.close()


# -- (b) malformed payloads and (c) tenants by topic prefix --------------------------------
@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """One bridge in topic-prefix mode (any tenant) with batches that only SIGTERM flushes:
    acme gets a valid inspection and three malformed payloads, globex one valid inspection,
    one message has a tenant level that is no tenant id. Then the bridge restarts (nothing is
    redelivered: SIGTERM acknowledged everything) and the drops are landed."""
    data_dir = tmp_path_factory.mktemp("mixed") / "data"
    root = f"tl-test-{uuid.uuid4().hex[:12]}"
    env = _bridge_env(
        root,
        f"{root}-bridge",
        TRACELOOM_MQTT_TENANT_PREFIXES="+",
        TRACELOOM_MQTT_BATCH_SECONDS="600",
    )
    now = datetime.now(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"

    def inspection(inspection_id: str) -> bytes:
        record = {
            "machine_id": "M-1",
            "work_order_id": "WO-4600",
            "timestamp": now,
            "inspection_id": inspection_id,
            "inspection_type": "inline_automated",
            "result": "pass",
            "defect_detected": False,
            "defect_type": None,
            "inspector": "AutoInspect_System",
        }
        return json.dumps(record, indent=2).encode()  # line breaks: still one line in the file

    sent = [
        (f"{root}/acme/{INSPECTION_TOPIC}", inspection("INS-ACME-1")),
        (f"{root}/acme/{INSPECTION_TOPIC}", b'{"machine_id": "M-1", "result": "pa'),
        (f"{root}/acme/{INSPECTION_TOPIC}", b'["M-1", "pass"]'),
        (f"{root}/acme/{INSPECTION_TOPIC}", b"\xff\xfe not utf-8"),
        (f"{root}/globex/{INSPECTION_TOPIC}", inspection("INS-GLOBEX-1")),
        (f"{root}/no tenant!/{INSPECTION_TOPIC}", inspection("INS-NOBODY-1")),
    ]
    bridge = Bridge(data_dir, env, "mixed")
    publish([(Message(t, p), None) for t, p in sent], 1000.0, client_id=f"{root}-pub")
    _wait(lambda: bridge.health().get("messages_received") == len(sent), "every message")
    assert not _drop_lines(data_dir, "acme", "quality_inspections"), "batches wait for SIGTERM"
    assert bridge.terminate() == 0
    stopped = bridge.health()

    again = Bridge(data_dir, env, "mixed-again")
    time.sleep(1.0)
    redelivered = again.health()["messages_received"]
    assert again.terminate() == 0

    for tenant in ("acme", "globex"):
        _write_machines(data_dir, tenant)
    con = connect(data_dir)
    land_entity(con, machines, data_dir / "landing")
    result = land_entity(con, quality_inspections, data_dir / "landing")
    yield {
        "con": con,
        "root": root,
        "data_dir": data_dir,
        "stopped": stopped,
        "redelivered": redelivered,
        "result": result,
    }
    con.close()


def test_sigterm_writes_the_open_batch_and_acknowledges_it(mixed):
    assert mixed["stopped"]["messages_written"] == 5
    assert mixed["stopped"]["unroutable"] == 1
    assert mixed["stopped"]["malformed"] == 3
    assert mixed["redelivered"] == 0


def test_each_bridge_process_samples_its_health_into_a_landed_drop_file(mixed):
    """Issue #14 §5: a bridge process writes a health sample at its first health write, when
    its connected state changes and when it stops (and every minute); the two processes of the
    fixture left theirs under ``landing/platform/bridges/health/``, and they land through the
    contract."""
    folder = mixed["data_dir"] / "landing" / "platform" / "bridges" / "health"
    samples = [json.loads(p.read_text()) for p in sorted(folder.glob("mqtt-*.jsonl"))]
    by_pid: dict[int, list[dict]] = {}
    for sample in sorted(samples, key=lambda s: s["sampled_at"]):
        by_pid.setdefault(sample["pid"], []).append(sample)
    assert len(by_pid) == 2, by_pid  # the bridge and its restart
    for process in by_pid.values():
        assert process[0]["running"] is True
        assert any(sample["connected"] for sample in process)  # sampled once it connected
        assert (process[-1]["running"], process[-1]["connected"]) == (False, False)
    first_stop = by_pid[mixed["stopped"]["pid"]][-1]
    assert first_stop["messages_received"] == mixed["stopped"]["messages_received"] == 6
    assert (first_stop["messages_written"], first_stop["malformed"]) == (5, 3)
    assert first_stop["endpoint"].startswith("mqtt://") and "@" not in first_stop["endpoint"]
    result = land_entity(mixed["con"], bridge_health, mixed["data_dir"] / "landing")
    counts = result.per_tenant["platform"]
    assert (counts.rows_landed, counts.rows_quarantined) == (len(samples), 0)


def test_malformed_payload_is_quarantined_with_its_reason_and_topic(mixed):
    rows = run(
        mixed["con"],
        "select failed_checks, reason, record from audit.quarantine "
        "where tenant_id = 'acme' and entity = 'quality_inspections' order by source_row",
    )
    topic = f"{mixed['root']}/acme/{INSPECTION_TOPIC}"
    assert [(checks, reason) for checks, reason, _ in rows] == [
        (["_record:valid_json"], "_record:valid_json")
    ] * 3
    details = [json.loads(record.removeprefix(MALFORMED_PREFIX)) for _, _, record in rows]
    assert {d["topic"] for d in details} == {topic}
    assert [d["error"].split(":")[0] for d in details] == [
        "payload is not JSON",
        "payload is an array, not a JSON object",
        "payload is not UTF-8",
    ]
    assert details[0]["payload"] == '{"machine_id": "M-1", "result": "pa'
    landed = run(mixed["con"], "select tenant_id, inspection_id from raw.mes__quality_inspections")
    assert sorted(landed) == [("acme", "INS-ACME-1"), ("globex", "INS-GLOBEX-1")]


def test_a_message_under_another_tenants_prefix_never_lands_in_this_tenant(mixed):
    acme = run(
        mixed["con"],
        "select count(*) from raw.mes__quality_inspections "
        "where tenant_id = 'acme' and inspection_id <> 'INS-ACME-1'",
    )
    assert acme == [(0,)]
    assert not any(
        "GLOBEX" in x for x in _drop_lines(mixed["data_dir"], "acme", "quality_inspections")
    )
    tenants = {p.name for p in (mixed["data_dir"] / "landing").iterdir()}
    # "no tenant!" is not a tenant: not landed; `platform` holds the bridge's health samples
    assert tenants == {"acme", "globex", "platform"}
    assert mixed["result"].per_tenant["globex"].rows_landed == 1


def test_topics_route_only_to_the_configured_tenants(tmp_path):
    listed = MqttSettings.from_env(
        tmp_path,
        {"TRACELOOM_MQTT_TENANT_PREFIXES": "acme", "TRACELOOM_MQTT_TOPIC_ROOT": "site"},
    )
    assert route(listed, f"site/acme/{COUNT_TOPIC}").tenant_id == "acme"
    with pytest.raises(Unroutable):
        route(listed, f"site/globex/{COUNT_TOPIC}")
    fixed = MqttSettings.from_env(tmp_path, {"TRACELOOM_MQTT_TENANT": "acme"})
    assert route(fixed, COUNT_TOPIC).entity == "production_counts"
    assert not any(mqtt.topic_matches_sub(f, f"globex/{COUNT_TOPIC}") for f in subscriptions(fixed))
    assert not any(mqtt.topic_matches_sub(f, f"other/{COUNT_TOPIC}") for f in subscriptions(listed))


SENSOR_TOPIC = "devices/GW-7/sensors/M-1-TEMP/data"


def test_sensor_topics_route_to_iot_with_the_same_tenant_rules(tmp_path):
    """001 INT-001's ``devices/<device>/sensors/<sensor>/data`` lands in iot/sensor_readings,
    under the same root and tenant-prefix rules as the MES topics."""
    listed = MqttSettings.from_env(
        tmp_path,
        {"TRACELOOM_MQTT_TENANT_PREFIXES": "acme", "TRACELOOM_MQTT_TOPIC_ROOT": "site"},
    )
    where = route(listed, f"site/acme/{SENSOR_TOPIC}")
    assert (where.tenant_id, where.system, where.entity) == ("acme", "iot", "sensor_readings")
    for topic in (
        f"site/globex/{SENSOR_TOPIC}",  # another tenant's prefix
        "site/acme/devices/GW-7/sensors/M-1-TEMP/status",
        "site/acme/devices//sensors/M-1-TEMP/data",  # empty device level
    ):
        with pytest.raises(Unroutable):
            route(listed, topic)
    assert any(
        mqtt.topic_matches_sub(f, f"site/acme/{SENSOR_TOPIC}") for f in subscriptions(listed)
    )
    assert not any(
        mqtt.topic_matches_sub(f, f"site/globex/{SENSOR_TOPIC}") for f in subscriptions(listed)
    )
    fixed = MqttSettings.from_env(tmp_path, {"TRACELOOM_MQTT_TENANT": "acme"})
    assert route(fixed, SENSOR_TOPIC).system == "iot"
    assert any(mqtt.topic_matches_sub(f, SENSOR_TOPIC) for f in subscriptions(fixed))


def test_a_sensor_line_takes_device_and_sensor_from_the_topic():
    payload = {"sensorId": "spoofed", "value": 51.5, "timestamp": "2026-12-01T10:00:00Z"}
    line = message_line(SENSOR_TOPIC, json.dumps(payload).encode(), "iot")
    assert json.loads(line.text) == {
        "deviceId": "GW-7",
        "sensorId": "M-1-TEMP",
        "value": 51.5,
        "timestamp": "2026-12-01T10:00:00Z",
    }
    assert line.text == message_line(SENSOR_TOPIC, json.dumps(payload).encode(), "iot").text
    assert line.event_time == datetime(2026, 12, 1, 10, tzinfo=UTC)
    broken = message_line(SENSOR_TOPIC, b'{"value": 51.5, "timestamp": ', "iot")
    assert broken.malformed and SENSOR_TOPIC in broken.text


def test_settings_come_from_the_environment_and_hide_the_password(tmp_path):
    settings = MqttSettings.from_env(
        tmp_path,
        {
            "TRACELOOM_MQTT_URL": "mqtts://broker.plant:8884",
            "TRACELOOM_MQTT_USERNAME": "traceloom",
            "TRACELOOM_MQTT_PASSWORD": "s3cret-pw",
            "TRACELOOM_MQTT_TENANT": "acme",
        },
    )
    assert (settings.host, settings.port, settings.tls) == ("broker.plant", 8884, True)
    assert "s3cret-pw" not in repr(settings) and "s3cret-pw" not in settings.broker
    assert (
        settings.client_id
        == MqttSettings.from_env(tmp_path, {"TRACELOOM_MQTT_TENANT": "a"}).client_id
    )
    for bad in (
        {"TRACELOOM_MQTT_TENANT": "acme", "TRACELOOM_MQTT_URL": "mqtt://u:p@host"},
        {"TRACELOOM_MQTT_TENANT": "../etc"},
        {},
        {"TRACELOOM_MQTT_TENANT": "acme", "TRACELOOM_MQTT_TENANT_PREFIXES": "+"},
        {"TRACELOOM_MQTT_TENANT": "acme", "TRACELOOM_MQTT_TOPIC_ROOT": "a/#"},
    ):
        with pytest.raises(ValueError):
            MqttSettings.from_env(tmp_path, bad)


def test_mqtt_3_1_1_batches_stay_within_the_brokers_inflight_window(tmp_path):
    def limit(**env: str) -> int:
        return MqttSettings.from_env(tmp_path, {"TRACELOOM_MQTT_TENANT": "acme", **env}).batch_limit

    assert limit() == 5000  # MQTT 5: the bridge's Receive Maximum is 65,535
    assert limit(TRACELOOM_MQTT_PROTOCOL="3.1.1") == 20  # Mosquitto's max_inflight_messages
    raised = {"TRACELOOM_MQTT_PROTOCOL": "3.1.1", "TRACELOOM_MQTT_BROKER_INFLIGHT": "1000"}
    assert limit(**raised) == 1000
    assert limit(**raised, TRACELOOM_MQTT_BATCH_MESSAGES="300") == 300
    with pytest.raises(ValueError):
        limit(TRACELOOM_MQTT_PROTOCOL="3.1.1", TRACELOOM_MQTT_BROKER_INFLIGHT="0")


def test_a_redelivered_payload_is_the_same_line(tmp_path):
    payload = b'{"machine_id":"M-1",\n"timestamp":"2026-01-01T00:00:00Z"}'
    assert message_line("t", payload) == message_line("t", payload)
    assert "\n" not in message_line("t", payload).text
    assert message_line("t", payload).event_time == datetime(2026, 1, 1, tzinfo=UTC)
    assert message_line("t", b"NaN").malformed


# -- the demo publisher --------------------------------------------------------------------
def test_demo_publisher_replays_streams_on_machine_topics_with_defects(tmp_path):
    landing = tmp_path / "landing"
    _write_machines(tmp_path, "acme")
    counts = landing / "acme" / "mes" / "production_counts"
    status = landing / "acme" / "mes" / "machine_status"
    for folder in (counts, status):
        folder.mkdir(parents=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    (counts / "production_counts_2026-01-01.jsonl").write_text(
        "\n".join(json.dumps(_count(n * 10, start)) for n in range(200)) + "\n"
    )
    (counts / "mqtt-20260101T000000000000Z-1-000001.jsonl").write_text("{}\n")  # the bridge's
    (status / "machine_status_2026-01-01.jsonl").write_text(
        json.dumps(
            {
                "MachineId": "M-1",
                "CurrentStatus": "Running",
                "LastUpdateTimestamp": "2026-01-01T00:00:00.005Z",
            }
        )
        + "\n"
    )
    messages = list(world_messages(landing, "acme", topic_root="site"))
    assert len(messages) == 201
    assert messages[1].topic == "site/acme/mes/status/L1/machine/M-1/status"
    assert {m.topic for m in messages} - {messages[1].topic} == {f"site/acme/{COUNT_TOPIC}"}

    defective = list(with_defects(messages, 0.2, random.Random(3)))
    kinds = {defect for _, defect in defective if defect}
    assert kinds == {"redelivery", "out_of_order", "malformed", "unknown_machine"}
    redelivered = sum(1 for _, d in defective if d == "redelivery")
    assert len(defective) == len(messages) + redelivered
    assert any("/machine/M-UNKNOWN-" in m.topic for m, d in defective if d == "unknown_machine")
    clean = list(with_defects(messages, 0.0, random.Random(3)))
    assert [m for m, _ in clean] == messages
