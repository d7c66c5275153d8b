"""MES and sensor topics and how one MQTT message becomes one line of a drop file (003 §4.2.1,
001 INT-001).

Topics (after the optional root and, in topic-prefix mode, the tenant level)::

    mes/production/<line>/machine/<machine_id>/count       → mes/production_counts
    mes/quality/<line>/machine/<machine_id>/inspection     → mes/quality_inspections
    mes/downtime/<line>/machine/<machine_id>/event         → mes/downtime_events
    mes/status/<line>/machine/<machine_id>/status          → mes/machine_status
    devices/<device_id>/sensors/<sensor_id>/data           → iot/sensor_readings

The first three are 003 §4.2.1's; ``status`` carries the fields of the seed's OPC-UA status node
(``MachineId``, ``CurrentStatus`` …, TraceLoom's extension for MES that publish status over
MQTT); the sensor topic is 001 INT-001's. A MES payload that is a JSON object is written as it
came (line breaks, which JSON allows only as white space, become spaces); the landing contract
(:mod:`traceloom_pipelines.sources.mes.contract`) validates it. A sensor payload that is a JSON
object (001 ``SensorReading``: ``value``, ``timestamp``, ``quality``, ``metadata`` …) is written
with ``deviceId`` and ``sensorId`` taken from the topic, as the seed's ``processSensorReading``
does (a payload's own ``deviceId``/``sensorId`` are replaced), and validated by
:mod:`traceloom_pipelines.sources.iot.contract`. Any other payload (not UTF-8, not JSON, JSON
but not an object) is written as a line that is deliberately not JSON::

    mqtt-malformed {"topic": "...", "error": "payload is not JSON: ...", "payload": "..."}

so the landing quarantines it as ``_record:valid_json`` with the topic, the parse error and the
payload text in ``audit.quarantine.record``: nothing is dropped silently (issue 14).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from traceloom_pipelines.bridges.config import ANY_TENANT, MqttSettings
from traceloom_pipelines.landing.drops import is_folder_name

SYSTEM = "mes"
SENSOR_SYSTEM, SENSOR_ENTITY = "iot", "sensor_readings"
# devices/<device_id>/sensors/<sensor_id>/data (001 INT-001)
SENSOR_LEVELS = ("devices", "+", "sensors", "+", "data")
# second topic level → (last topic level, MES entity)
STREAMS: dict[str, tuple[str, str]] = {
    "production": ("count", "production_counts"),
    "quality": ("inspection", "quality_inspections"),
    "downtime": ("event", "downtime_events"),
    "status": ("status", "machine_status"),
}
MALFORMED_PREFIX = "mqtt-malformed "
# payload fields holding the event time (production/quality/downtime; status)
TIMESTAMP_KEYS = ("timestamp", "LastUpdateTimestamp")


class Unroutable(ValueError):
    """A topic the bridge cannot attribute to a tenant and entity (the message is not landed)."""


@dataclass(frozen=True)
class Route:
    """Where a message lands: ``landing/<tenant_id>/<system>/<entity>/`` (``mes`` or ``iot``)."""

    tenant_id: str
    entity: str
    system: str = SYSTEM


@dataclass(frozen=True)
class Line:
    """One message as a drop-file line.

    Attributes:
        text: the line (no line break).
        malformed: the payload was not a JSON object (``text`` starts with
            :data:`MALFORMED_PREFIX`).
        event_time: the payload's ``timestamp`` / ``LastUpdateTimestamp`` as an aware UTC
            datetime, or None if absent or unparseable (used for the health file's lag only).
    """

    text: str
    malformed: bool
    event_time: datetime | None = None


def _prefix_levels(settings: MqttSettings) -> list[str]:
    return settings.topic_root.split("/") if settings.topic_root else []


def subscriptions(settings: MqttSettings) -> list[str]:
    """Topic filters to subscribe to: every stream of :data:`STREAMS` and the sensor topic
    (:data:`SENSOR_LEVELS`), under the root and (in topic-prefix mode) each configured tenant
    level or ``+``."""
    tenants = [[]] if settings.tenant is not None else [[t] for t in settings.tenant_prefixes]
    return [
        topic
        for tenant in tenants
        for topic in [
            *(
                "/".join(
                    [*_prefix_levels(settings), *tenant, SYSTEM, kind, "+", "machine", "+", leaf]
                )
                for kind, (leaf, _) in STREAMS.items()
            ),
            "/".join([*_prefix_levels(settings), *tenant, *SENSOR_LEVELS]),
        ]
    ]


def is_sensor_topic(levels: list[str]) -> bool:
    """``levels`` (after root and tenant) are ``devices/<device>/sensors/<sensor>/data``."""
    return (
        len(levels) == 5
        and levels[0] == SENSOR_LEVELS[0]
        and levels[2] == SENSOR_LEVELS[2]
        and levels[4] == SENSOR_LEVELS[4]
    )


def route(settings: MqttSettings, topic: str) -> Route:
    """The tenant and entity of a message published on ``topic``.

    Raises:
        Unroutable: the topic is not under the root, not one of the stream topics or the sensor
            topic (or its device or sensor level is empty), or its tenant level is not a valid
            folder name or not a configured tenant.
    """
    levels = topic.split("/")
    root = _prefix_levels(settings)
    if levels[: len(root)] != root:
        raise Unroutable("not under the topic root")
    levels = levels[len(root) :]
    if settings.tenant is None:
        if not levels:
            raise Unroutable("no tenant level")
        tenant, levels = levels[0], levels[1:]
        if not is_folder_name(tenant):
            raise Unroutable("tenant level is not a valid tenant id")
        if ANY_TENANT not in settings.tenant_prefixes and tenant not in settings.tenant_prefixes:
            raise Unroutable("tenant level is not a configured tenant")
    else:
        tenant = settings.tenant
    if is_sensor_topic(levels):
        if not levels[1] or not levels[3]:
            raise Unroutable("empty device or sensor level")
        return Route(tenant, SENSOR_ENTITY, SENSOR_SYSTEM)
    if len(levels) != 6 or levels[0] != SYSTEM or levels[3] != "machine":
        raise Unroutable("not a mes/<stream>/<line>/machine/<machine>/<leaf> topic")
    leaf, entity = STREAMS.get(levels[1], ("", ""))
    if not entity or levels[5] != leaf:
        raise Unroutable("not a known MES stream")
    return Route(tenant, entity)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _event_time(payload: dict) -> datetime | None:
    for key in TIMESTAMP_KEYS:
        value = payload.get(key)
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                return None
            if moment.tzinfo is None:
                return None
            return moment.astimezone(UTC)
    return None


def malformed_line(topic: str, error: str, payload_text: str) -> Line:
    """The line of a payload that is not a JSON object (see the module docstring)."""
    body = json.dumps(
        {"topic": topic, "error": error, "payload": payload_text},
        ensure_ascii=False,
        separators=(", ", ": "),
    )
    return Line(MALFORMED_PREFIX + body, malformed=True)


def to_line(topic: str, payload: bytes, system: str = SYSTEM) -> Line:
    """One MQTT message as one drop-file line (see the module docstring).

    ``system`` is the routed system (:attr:`Route.system`): for ``iot`` the line is the payload
    object with ``deviceId`` and ``sensorId`` first, from the topic's levels (``…/devices/<d>/
    sensors/<s>/data``), re-serialized compactly. The same topic and payload always give the same
    line, so a redelivered message is an exact duplicate that the landing skips by record hash.
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        return malformed_line(
            topic,
            f"payload is not UTF-8: {error.reason} at byte {error.start}",
            payload.decode("utf-8", errors="backslashreplace"),
        )
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        return malformed_line(topic, f"payload is not JSON: {error}", text)
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        return malformed_line(
            topic, f"payload is {kind.get(type(value), 'a number')}, not a JSON object", text
        )
    if system == SENSOR_SYSTEM:
        levels = topic.split("/")
        reading = {"deviceId": levels[-4], "sensorId": levels[-2]}
        reading.update((k, v) for k, v in value.items() if k not in reading)
        text = json.dumps(reading, ensure_ascii=False, separators=(",", ":"))
    return Line(
        text.replace("\r", " ").replace("\n", " ").strip(),
        malformed=False,
        event_time=_event_time(value),
    )
