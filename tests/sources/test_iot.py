"""Sensors in the warehouse (issue #14 §4): sensor readings from the real MQTT bridge (real
Mosquitto at 127.0.0.1:1883) and from the demo world's drops, landed through the
``iot/sensor_readings`` contract into a real lake, then a real ``dbt build`` of
``fct_sensor_excursions`` and what it reads.

One tiny world (scale 0.001, as of today) serves every test: before landing, the bridge (topic
prefix mode, listening to tenant ``acme-apparel`` only) takes in a vibration series published on
the machine of the world's machine excursion while its work order runs — a 60-second blip above
7.1 mm/s, then 120 seconds above it (the seed's minimum for vibration) — one redelivery, a
malformed payload, a reading whose value is not a number, and readings under the other tenant's
prefix.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.bridges.test_mqtt_bridge import Bridge, _bridge_env, _bridges, _broker_up, _wait
from traceloom_pipelines.bridges.topics import to_line
from traceloom_pipelines.dbt_targets import run_dbt
from traceloom_pipelines.demo import generate_world
from traceloom_pipelines.demo.mqtt_publish import Message, publish, world_messages
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.sources.catalog import all_entities

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _broker_up(), reason="no MQTT broker at 127.0.0.1:1883"),
]

TENANT, OTHER = "acme-apparel", "borealis-appliances"
# what fct_sensor_excursions reads: iot, the work orders (erp, mes), the shipments (logistics, edi)
SYSTEMS = ("edi", "erp", "mes", "logistics", "iot")
# 30-second vibration readings (mm/s; limit 7.1, minimum 120 s): a 60 s blip, then 120 s above
VIBRATION = [2.0, 9.0, 9.5, 9.1, 2.1, 2.0, 9.2, 9.4, 9.6, 9.8, 9.9, 2.2]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _reading(value, at: datetime, machine: str) -> dict:
    return {
        "type": "vibration",
        "unit": "mm/s",
        "value": value,
        "timestamp": _iso(at),
        "quality": "good",
        "metadata": {"locationKind": "machine", "locationId": machine},
    }


@pytest.fixture(scope="module")
def sensor_world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    data_dir = tmp_path_factory.mktemp("sensor_world")
    now = datetime.now(UTC)
    key = generate_world(
        data_dir / "landing",
        data_dir / "demo" / "answer_key.json",
        seed=7,
        scale=0.001,
        as_of=datetime(now.year, now.month, now.day, tzinfo=UTC),
    )
    machine_excursion = next(
        e
        for e in key["sensor_excursions"]
        if e["tenant_id"] == TENANT and e["location_kind"] == "machine"
    )
    machine = machine_excursion["location_id"]
    start = datetime.fromisoformat(machine_excursion["started_at"].replace("Z", "+00:00"))
    root = f"tl-test-{uuid.uuid4().hex[:12]}"
    sensor = f"{machine}-VIB"
    topic = f"{root}/{TENANT}/devices/GW-{machine}/sensors/{sensor}/data"
    readings = [
        _reading(v, start + timedelta(seconds=30 * i), machine) for i, v in enumerate(VIBRATION)
    ]
    messages = [Message(topic, json.dumps(r).encode()) for r in readings]
    messages.append(messages[3])  # a redelivery
    malformed = b'{"type": "vibration", "value": 9.9, "timestamp": '
    messages.append(Message(topic, malformed))
    not_a_number = {**readings[0], "value": "abc", "timestamp": _iso(start - timedelta(minutes=5))}
    messages.append(Message(topic, json.dumps(not_a_number).encode()))
    for tenant in (OTHER, "globex"):  # not listened to: never lands
        other = f"{root}/{tenant}/devices/GW-X/sensors/{sensor}/data"
        messages += [Message(other, json.dumps(r).encode()) for r in readings[:3]]
    bridge = Bridge(
        data_dir,
        _bridge_env(root, f"{root}-bridge", TRACELOOM_MQTT_TENANT_PREFIXES=TENANT),
        "bridge",
    )
    try:
        publish(((m, None) for m in messages), rate=2000)
        routed = len(VIBRATION) + 1 + 1 + 1
        _wait(lambda: bridge.health().get("messages_written", 0) >= routed, "sensor drop files")
        assert bridge.terminate() == 0
    finally:
        if bridge.process.poll() is None:
            bridge.process.kill()
            bridge.process.wait(timeout=60)
        _bridges.remove(bridge.process)
    con = connect(data_dir)
    try:
        landed = {
            e.entity: land_entity(con, e, data_dir / "landing")
            for e in all_entities()
            if e.system in SYSTEMS
        }
    finally:
        con.close()
    done = run_dbt(
        data_dir,
        # the upstream models' tests run in tests/sources/test_po_twin.py's build
        ["build", "--select", "+fct_sensor_excursions", "--indirect-selection", "empty"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    con = connect(data_dir, read_only=True)
    yield {
        "dir": data_dir,
        "key": key,
        "con": con,
        "sensor": sensor,
        "start": start,  # aware, as the marts' instants (timestamp with time zone) read
        "work_order": machine_excursion["work_order_id"],
        "po": machine_excursion["po_id"],
        "landed": landed["sensor_readings"],
    }
    con.close()


def _rows(con, sql: str) -> list[dict]:
    rel = con.sql(sql)
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def test_an_excursion_longer_than_its_minimum_is_linked_to_the_running_work_orders_po(
    sensor_world,
) -> None:
    rows = _rows(
        sensor_world["con"],
        f"select * from marts.fct_sensor_excursions where sensor_id = '{sensor_world['sensor']}'",
    )
    start = sensor_world["start"]
    assert [
        (
            r["started_at"],
            r["ended_at"],
            r["duration_seconds"],
            r["peak_value"],
            r["threshold_value"],
            r["work_order_id"],
            r["po_id"],
        )
        for r in rows
    ] == [
        (
            start + timedelta(seconds=180),
            start + timedelta(seconds=300),
            120,
            9.9,
            7.1,
            sensor_world["work_order"],
            sensor_world["po"],
        )
    ]  # the 60-second blip from +30 s is not an excursion
    blip = _rows(
        sensor_world["con"],
        "select duration_seconds, meets_min_duration "
        "from intermediate.int_sensor_readings_grouped_into_excursions "
        f"where sensor_id = '{sensor_world['sensor']}' order by started_at",
    )
    assert blip == [
        {"duration_seconds": 60, "meets_min_duration": False},
        {"duration_seconds": 120, "meets_min_duration": True},
    ]


def test_malformed_and_invalid_sensor_payloads_are_quarantined_with_reason_and_topic(
    sensor_world,
) -> None:
    quarantined = _rows(
        sensor_world["con"],
        "select failed_checks, record from audit.quarantine "
        "where entity = 'sensor_readings' and source_file like '%/mqtt-%'",
    )
    by_reason = {tuple(sorted(q["failed_checks"])): q["record"] for q in quarantined}
    assert set(by_reason) == {("_record:valid_json",), ("value:is_number",)}
    malformed = by_reason[("_record:valid_json",)]
    assert (
        f"/sensors/{sensor_world['sensor']}/data" in malformed
        and "payload is not JSON" in malformed
    )
    assert json.loads(by_reason[("value:is_number",)])["sensorId"] == sensor_world["sensor"]
    counts = sensor_world["landed"].per_tenant[TENANT]
    assert counts.rows_duplicate >= 2  # the redelivery and the demo world's own


def test_sensor_messages_under_another_tenants_prefix_never_land(sensor_world) -> None:
    landing = sensor_world["dir"] / "landing"
    assert not list((landing / OTHER / "iot").rglob("mqtt-*"))
    assert not (landing / "globex").exists()
    rows = run(
        sensor_world["con"],
        "select tenant_id, count(*) from raw.iot__sensor_readings "
        f"where \"sensorId\" = '{sensor_world['sensor']}' group by 1",
    )
    assert rows == [(TENANT, len(VIBRATION))]


def test_the_demo_worlds_excursions_are_exactly_the_marts(sensor_world) -> None:
    key = sensor_world["key"]
    got = _rows(
        sensor_world["con"],
        "select tenant_id, sensor_id, sensor_type, location_kind, location_id, "
        "strftime(started_at, '%Y-%m-%dT%H:%M:%SZ') as started_at, "
        "strftime(ended_at, '%Y-%m-%dT%H:%M:%SZ') as ended_at, duration_seconds, peak_value, "
        "severity, work_order_id, shipment_id, po_id "
        f"from marts.fct_sensor_excursions where sensor_id <> '{sensor_world['sensor']}' "
        "order by tenant_id, sensor_id, started_at",
    )
    assert got == key["sensor_excursions"]
    blips = {(b["tenant_id"], b["sensor_id"], b["started_at"]) for b in key["sensor_blips"]}
    assert blips and not blips & {(g["tenant_id"], g["sensor_id"], g["started_at"]) for g in got}


def test_the_demo_publisher_replays_sensor_readings_as_the_bridge_lands_them(tmp_path) -> None:
    """``traceloom demo mqtt-publish`` sends each reading on its sensor's topic without the ids;
    the bridge's line for it is the generator's record byte for byte (a replay of the world is
    a duplicate, not new data)."""
    key = generate_world(tmp_path / "landing", tmp_path / "key.json", seed=7, scale=0.001)
    assert key["sensor_excursions"]
    folder = tmp_path / "landing" / TENANT / "iot" / "sensor_readings"
    written = [line for path in folder.glob("*.jsonl") for line in path.read_text().splitlines()]
    sent = [m for m in world_messages(tmp_path / "landing", TENANT) if "/sensors/" in m.topic]
    lines = [to_line(m.topic, m.payload, "iot") for m in sent]
    assert not any(line.malformed for line in lines)
    assert sorted(line.text for line in lines) == sorted(written)
    for message in sent:
        levels = message.topic.split("/")
        assert levels[:2] == [TENANT, "devices"] and levels[3] == "sensors"
        assert b"sensorId" not in message.payload
