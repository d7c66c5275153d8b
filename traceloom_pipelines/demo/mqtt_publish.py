"""``traceloom demo mqtt-publish``: replay a demo world's MES streams and sensor readings to an
MQTT broker (issue 14).

Reads the JSONL drop files the demo generator wrote (:mod:`traceloom_pipelines.demo.feeds`,
:mod:`traceloom_pipelines.demo.sensors`):
``landing/<tenant>/mes/{production_counts,quality_inspections,downtime_events,machine_status}/``
and ``landing/<tenant>/iot/sensor_readings/`` (never the bridges' own ``mqtt-*`` / ``opcua-*``
files), merges the five streams in timestamp order and publishes each MES record, as it is in
the file, at QoS 1 on its machine's topic (003 §4.2.1), and each sensor reading on its sensor's
topic (001 INT-001) without ``deviceId``/``sensorId``, which the topic carries (the bridge puts
them back)::

    [<root>/][<tenant>/]mes/<production|quality|downtime|status>/<line>/machine/<machine_id>/<count|inspection|event|status>
    [<root>/][<tenant>/]devices/<device_id>/sensors/<sensor_id>/data

``<line>`` comes from the tenant's machine registry (``mes/machines``); a machine it does not
know is on line ``unknown``. Records the generator made defective (bad timestamps, malformed
JSON …) are replayed as they are.

Stream defects are ON by default (``--defect-rate 0.02``; ``0`` publishes the world clean): each
message is, with that probability, one of

* ``redelivery``: published twice (the second copy a few messages later), as QoS 1 redelivers;
* ``out_of_order``: held back and published a few messages later (timestamps go backwards);
* ``malformed``: its payload cut in half (not JSON);
* ``unknown_machine``: its machine id (payload and topic) replaced by one no registry knows
  (MES messages only; a sensor message stays as it is).

The broker comes from the bridge's variables: ``TRACELOOM_MQTT_URL``, ``TRACELOOM_MQTT_USERNAME``,
``TRACELOOM_MQTT_PASSWORD``, ``TRACELOOM_MQTT_CA_FILE``.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from traceloom_pipelines.bridges.config import parse_broker_url
from traceloom_pipelines.bridges.mqtt import FILE_PREFIX as MQTT_PREFIX
from traceloom_pipelines.bridges.opcua import FILE_PREFIX as OPCUA_PREFIX
from traceloom_pipelines.bridges.topics import (
    SENSOR_ENTITY,
    SENSOR_LEVELS,
    SENSOR_SYSTEM,
    STREAMS,
    SYSTEM,
)

DEFECTS = ("redelivery", "out_of_order", "malformed", "unknown_machine")
DEFAULT_DEFECT_RATE = 0.02
# MES entity → (second topic level, last topic level)
_TOPIC_OF = {entity: (kind, leaf) for kind, (leaf, entity) in STREAMS.items()}
_NOT_A_LEVEL = re.compile(r"[/+#\x00]")


@dataclass(frozen=True)
class Message:
    """One message to publish: ``topic``, ``payload`` (UTF-8 bytes) and ``sort_key`` (the
    record's timestamp text, for merging the streams)."""

    topic: str
    payload: bytes
    sort_key: str = ""


def _level(text: object) -> str:
    """``text`` as one topic level: ``/ + #`` and NUL become ``_``; empty is ``unknown``."""
    value = _NOT_A_LEVEL.sub("_", str(text)) if text not in (None, "") else ""
    return value or "unknown"


def machine_lines(landing: Path, tenant: str) -> dict[str, str]:
    """``machine_id → line`` from the tenant's machine registry drops (``{"machines": [...]}``)."""
    lines: dict[str, str] = {}
    folder = landing / tenant / SYSTEM / "machines"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        machines = document.get("machines") if isinstance(document, dict) else document
        for machine in machines if isinstance(machines, list) else []:
            if isinstance(machine, dict) and machine.get("machine_id"):
                lines[str(machine["machine_id"])] = str(machine.get("line") or "unknown")
    return lines


def tenants_with_streams(landing: Path) -> list[str]:
    """Tenants under ``landing`` with at least one MES stream or sensor readings folder."""
    if not landing.is_dir():
        return []
    return sorted(
        p.name
        for p in landing.iterdir()
        if p.is_dir()
        and (
            any((p / SYSTEM / entity).is_dir() for entity in _TOPIC_OF)
            or (p / SENSOR_SYSTEM / SENSOR_ENTITY).is_dir()
        )
    )


def _demo_lines(folder: Path) -> Iterator[tuple[str, dict | None]]:
    """Each non-empty line of the demo world's ``*.jsonl`` files in ``folder`` (in file order;
    the bridges' own files left out) with its JSON object, or None when it is not one."""
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    for path in files:
        if path.name.startswith((MQTT_PREFIX, OPCUA_PREFIX)):
            continue  # the bridges' own files: not the demo world's
        with open(path, encoding="utf-8") as handle:
            for raw in handle:
                text = raw.strip()
                if not text:
                    continue
                try:
                    record = json.loads(text)
                except ValueError:
                    record = None
                yield text, record if isinstance(record, dict) else None


def _sensor_stream(landing: Path, tenant: str, prefix: list[str]) -> Iterator[Message]:
    """The tenant's sensor readings: topic from ``deviceId``/``sensorId``, which the payload
    then leaves out (001 INT-001: the topic names them); a line that is not a JSON object is
    published as it is on ``devices/unknown/sensors/unknown/data``."""
    key = ""
    devices, _, sensors, _, leaf = SENSOR_LEVELS
    for text, record in _demo_lines(landing / tenant / SENSOR_SYSTEM / SENSOR_ENTITY):
        device = sensor = None
        payload = text.encode("utf-8")
        if record is not None:
            device, sensor = record.pop("deviceId", None), record.pop("sensorId", None)
            stamp = record.get("timestamp")
            key = stamp if isinstance(stamp, str) else key
            payload = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        topic = "/".join([*prefix, devices, _level(device), sensors, _level(sensor), leaf])
        yield Message(topic, payload, key)


def _stream(
    landing: Path, tenant: str, entity: str, prefix: list[str], lines: dict[str, str]
) -> Iterator[Message]:
    kind, leaf = _TOPIC_OF[entity]
    key = ""
    for text, record in _demo_lines(landing / tenant / SYSTEM / entity):
        machine = None
        if record is not None:
            machine = record.get("machine_id", record.get("MachineId"))
            stamp = record.get("timestamp", record.get("LastUpdateTimestamp"))
            key = stamp if isinstance(stamp, str) else key
        line = lines.get(str(machine), "unknown")
        topic = "/".join([*prefix, SYSTEM, kind, _level(line), "machine", _level(machine), leaf])
        yield Message(topic, text.encode("utf-8"), key)


def world_messages(
    landing: Path, tenant: str, topic_root: str = "", tenant_prefix: bool = True
) -> Iterator[Message]:
    """The tenant's MES stream records and sensor readings as messages, the five streams merged
    by timestamp.

    ``topic_root`` (levels without leading/trailing ``/``) and, when ``tenant_prefix``, the
    tenant come before ``mes`` / ``devices``.
    """
    prefix = [level for level in topic_root.strip("/").split("/") if level]
    if tenant_prefix:
        prefix.append(tenant)
    lines = machine_lines(landing, tenant)
    streams = [_stream(landing, tenant, entity, prefix, lines) for entity in _TOPIC_OF]
    streams.append(_sensor_stream(landing, tenant, prefix))
    return heapq.merge(*streams, key=lambda m: m.sort_key)


def _unknown_machine(message: Message, rng: random.Random) -> Message:
    record = json.loads(message.payload)
    if not isinstance(record, dict):
        return message
    if "MachineId" not in record and "machine_id" not in record:
        raise ValueError("not a MES record: no machine id to replace")
    key = "MachineId" if "MachineId" in record else "machine_id"
    unknown = f"M-UNKNOWN-{rng.randrange(1000):03d}"
    record[key] = unknown
    levels = message.topic.split("/")
    levels[-2] = unknown
    payload = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Message("/".join(levels), payload, message.sort_key)


def with_defects(
    messages: Iterable[Message], rate: float, rng: random.Random
) -> Iterator[tuple[Message, str | None]]:
    """``messages`` with stream defects (module docstring) at ``rate`` (0–1): each item is
    ``(message, defect or None)``; a redelivery's second copy carries ``"redelivery"``."""
    later: list[tuple[int, int, Message, str | None]] = []  # (due index, tiebreak, ...)
    index = 0
    for message in messages:
        while later and later[0][0] <= index:
            _, _, held, defect = heapq.heappop(later)
            yield held, defect
        index += 1
        defect = rng.choice(DEFECTS) if rate > 0 and rng.random() < rate else None
        if defect == "redelivery":
            heapq.heappush(later, (index + rng.randint(1, 20), index, message, defect))
            yield message, None
        elif defect == "out_of_order":
            heapq.heappush(later, (index + rng.randint(1, 10), index, message, defect))
        elif defect == "malformed":
            yield Message(message.topic, message.payload[: len(message.payload) // 2]), defect
        elif defect == "unknown_machine":
            try:
                yield _unknown_machine(message, rng), defect
            except ValueError:  # not JSON, or a sensor reading: left as it is
                yield message, None
        else:
            yield message, None
    for _, _, held, defect in sorted(later):
        yield held, defect


def publish(
    messages: Iterable[tuple[Message, str | None]],
    rate: float,
    count: int | None = None,
    client_id: str | None = None,
) -> Counter:
    """Publish at QoS 1, at most ``rate`` messages per second, at most ``count`` messages;
    wait until the broker acknowledged every one. Returns counts: ``published`` and one per
    defect.

    Raises:
        ValueError: a malformed ``TRACELOOM_MQTT_URL``.
        OSError: the broker cannot be reached.
        RuntimeError: the broker did not acknowledge every message within 120 s.
    """
    host, port, tls = parse_broker_url(os.environ.get("TRACELOOM_MQTT_URL", "mqtt://127.0.0.1"))
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"traceloom-demo-publisher-{os.getpid()}",
        protocol=mqtt.MQTTv311,
    )
    if os.environ.get("TRACELOOM_MQTT_USERNAME"):
        client.username_pw_set(
            os.environ["TRACELOOM_MQTT_USERNAME"], os.environ.get("TRACELOOM_MQTT_PASSWORD")
        )
    if tls:
        client.tls_set(ca_certs=os.environ.get("TRACELOOM_MQTT_CA_FILE") or None)
    client.max_inflight_messages_set(1000)
    acknowledged = Counter()
    client.on_publish = lambda *_args: acknowledged.update(("puback",))
    client.connect(host, port, keepalive=30)
    client.loop_start()
    counts: Counter = Counter()
    started = time.monotonic()
    try:
        for message, defect in messages:
            if count is not None and counts["published"] >= count:
                break
            ahead = started + counts["published"] / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            client.publish(message.topic, message.payload, qos=1)
            counts["published"] += 1
            if defect:
                counts[defect] += 1
        deadline = time.monotonic() + 120
        while acknowledged["puback"] < counts["published"] and time.monotonic() < deadline:
            time.sleep(0.05)
        if acknowledged["puback"] < counts["published"]:
            raise RuntimeError("the broker did not acknowledge every message within 120 s")
    finally:
        client.disconnect()
        client.loop_stop()
    return counts
