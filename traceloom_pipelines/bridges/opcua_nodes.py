"""Machine status nodes on an OPC-UA server, and how their values become JSONL (003 §4.2.1).

The seed's address space: one ``Status`` object per machine, ``MES.Machines.<id>.Status``, whose
variables are the sample's fields. The bridge finds them by browsing ``Objects`` for
``MES/Machines/<id>/Status`` (browse names, any namespace), or takes a configured list of status
node ids; a machine's id is the ``<id>`` of a string node id ``…MES.Machines.<id>.Status``, else
the browse name of the status node's parent. Variables of the status object named as
:data:`FIELDS` are subscribed to; others are ignored.

A sample is one line in the shape of the MES ``machine_status`` contract
(:data:`traceloom_pipelines.sources.mes.contract.machine_status`)::

    {"MachineId": "M-203", "CurrentStatus": "Running", "UtilizationPercentage": 85.2,
     "CurrentWorkOrderId": "WO-4600", "UnitsProducedThisCycle": 12, "CycleTimeSeconds": 45.3,
     "DowntimeSeconds": 0.0, "LastUpdateTimestamp": "2025-11-18T14:25:30.123Z"}

``MachineId`` comes from the node path, never from a value. OPC-UA ``DateTime`` values become
``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC), an empty string ``null``, a field the server lacks ``null``;
when the server has no ``LastUpdateTimestamp`` variable, the newest source timestamp of the
machine's values stands in. The same values always give the same line, so a sample the bridge
sees twice (after a reconnect the server sends every current value again) is an exact duplicate
that the landing skips by record hash.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from asyncua import Client, Node, ua

from traceloom_pipelines.bridges.health import utc_iso

SYSTEM, ENTITY = "mes", "machine_status"
FIELDS = (
    "CurrentStatus",
    "UtilizationPercentage",
    "CurrentWorkOrderId",
    "UnitsProducedThisCycle",
    "CycleTimeSeconds",
    "DowntimeSeconds",
    "LastUpdateTimestamp",
)
TIMESTAMP_FIELD = "LastUpdateTimestamp"
BROWSE_PATH = ("MES", "Machines")  # under Objects; then <machine id>/Status
STATUS_NAME = "Status"
_STATUS_NODE_ID = re.compile(r"(?:^|\.)MES\.Machines\.(?P<machine>.+)\.Status$")


@dataclass(frozen=True)
class StatusNode:
    """One machine's status object.

    Attributes:
        machine_id: the machine's id (from the node path).
        node: the status object.
        fields: field name (one of :data:`FIELDS`) → its variable node.
    """

    machine_id: str
    node: Node
    fields: Mapping[str, Node]


async def _children(client: Client, node: Node) -> list[tuple[str, ua.NodeClass, Node]]:
    """``(browse name, node class, node)`` of every hierarchical child of ``node``."""
    references = await node.get_references(
        ua.ObjectIds.HierarchicalReferences, ua.BrowseDirection.Forward
    )
    return [(ref.BrowseName.Name, ref.NodeClass, client.get_node(ref.NodeId)) for ref in references]


async def _child(client: Client, node: Node, name: str) -> Node | None:
    return next((n for bname, _, n in await _children(client, node) if bname == name), None)


async def _machine_id(node: Node) -> str:
    identifier = node.nodeid.Identifier
    if isinstance(identifier, str) and (match := _STATUS_NODE_ID.search(identifier)):
        return match["machine"]
    parent = await node.get_parent()
    if parent is None:
        raise LookupError(f"status node {node.nodeid.to_string()} has no parent to name it")
    return (await parent.read_browse_name()).Name


async def discover(client: Client, node_ids: tuple[str, ...] = ()) -> list[StatusNode]:
    """The status objects of the server: ``node_ids`` if given, else found by browsing
    ``Objects/MES/Machines/<id>/Status``; sorted by machine id.

    Raises:
        LookupError: the browse path or a configured node does not exist, or no status object
            has any of the :data:`FIELDS` variables (the bridge retries on its next connection).
        asyncua.ua.UaError, OSError, TimeoutError: the server failed to answer.
    """
    found: list[tuple[str, Node]] = []
    if node_ids:
        for node_id in node_ids:
            node = client.get_node(node_id)
            found.append((await _machine_id(node), node))
    else:
        folder = client.nodes.objects
        for name in BROWSE_PATH:
            folder = await _child(client, folder, name)
            if folder is None:
                raise LookupError(f"no {'/'.join(BROWSE_PATH)} folder under Objects")
        for machine_id, node_class, machine in await _children(client, folder):
            if node_class == ua.NodeClass.Object:
                status = await _child(client, machine, STATUS_NAME)
                if status is not None:
                    found.append((machine_id, status))
    nodes = []
    for machine_id, status in sorted(found, key=lambda pair: pair[0]):
        fields = {
            name: variable
            for name, node_class, variable in await _children(client, status)
            if name in FIELDS and node_class == ua.NodeClass.Variable
        }
        if fields:
            nodes.append(StatusNode(machine_id, status, fields))
    if not nodes:
        raise LookupError("no machine status node with any of the fields " + ", ".join(FIELDS))
    return nodes


def json_value(value: object) -> object:
    """An OPC-UA value as a JSON value: ``DateTime`` → UTC ISO text with ``Z`` (naive ones are
    UTC), ``LocalizedText`` → its text, an enum → its name, ``""`` → None, numbers, booleans and
    None as they are, anything else (NaN and infinities too) as its text."""
    if isinstance(value, datetime):
        return utc_iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, ua.LocalizedText):
        value = value.Text
    if isinstance(value, Enum):
        return value.name
    if value is None or value == "":
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # not JSON: the contract's number check quarantines it, visibly
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def sample_record(
    machine_id: str, values: Mapping[str, object], source_time: datetime | None = None
) -> dict:
    """The contract-shaped record of one machine's current ``values`` (field name → OPC-UA
    value); ``source_time`` (aware or naive UTC) stands in for a missing ``LastUpdateTimestamp``."""
    record: dict[str, object] = {"MachineId": machine_id}
    for name in FIELDS:
        record[name] = json_value(values.get(name))
    if TIMESTAMP_FIELD not in values and source_time is not None:
        record[TIMESTAMP_FIELD] = json_value(source_time)
    return record


def sample_line(record: Mapping[str, object]) -> str:
    """``record`` as one JSONL line (keys in contract order, no line break)."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False)


def event_time(record: Mapping[str, object]) -> datetime | None:
    """The record's ``LastUpdateTimestamp`` as an aware UTC datetime, or None if absent or not
    an ISO timestamp with a zone (used for the health file's lag only)."""
    text = record.get(TIMESTAMP_FIELD)
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None
