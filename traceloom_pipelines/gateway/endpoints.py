"""What the push gateway accepts: one :class:`PushEndpoint` per URL, with its JSON schema and the
drop folder its records land in.

A 2xx means the records will land through the entity's contract in ``sources/<system>/contract.py``
rather than be quarantined: each schema is the seed's request schema where the seed gives one
(003 §3.3, kept as written) plus the landing contract's rules for the optional fields
(vocabularies, number types, ``date-time`` with an offset), applied at the door so the sender can
fix a payload while it still has it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from jsonschema import Draft7Validator

from traceloom_pipelines.sources.erp.contract import (
    ERP_WORK_ORDER_STATUSES,
    PRIORITIES,
    WORK_ORDER_EVENTS,
)
from traceloom_pipelines.sources.factory.contract import (
    QA_RESULTS,
    SCAN_EVENTS,
    STAGES,
    UNIT_TYPES,
)
from traceloom_pipelines.sources.hr.contract import ATTENDANCE_EVENTS

# The most records one milestone or scan push may carry (the app batches scans made offline).
MAX_BATCH_RECORDS = 1000

_TEXT = {"type": "string"}
_OPTIONAL_TEXT = {"type": ["string", "null"]}
_DATE_TIME = {"type": "string", "format": "date-time"}
_OPTIONAL_DATE_TIME = {"type": ["string", "null"], "format": "date-time"}
_REQUIRED_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}


def _optional_enum(values: tuple[str, ...]) -> dict:
    return {"enum": [*values, None]}


# 003 §3.3 "Request Schema", as written; the contract's optional fields added below it.
WORK_ORDER_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["event_type", "timestamp", "work_order"],
    "properties": {
        "event_type": {"type": "string", "enum": list(WORK_ORDER_EVENTS)},
        "timestamp": {"type": "string", "format": "date-time"},
        "work_order": {
            "type": "object",
            "required": ["erp_work_order_id", "product_id", "quantity_ordered", "due_date"],
            "properties": {
                "erp_work_order_id": {"type": "string"},
                "product_id": {"type": "string"},
                "quantity_ordered": {"type": "number", "minimum": 1},
                "due_date": {"type": "string", "format": "date-time"},
                # landing contract (sources/erp/contract.py work_orders):
                "work_order_number": _OPTIONAL_TEXT,
                "status": _optional_enum(ERP_WORK_ORDER_STATUSES),
                "product_name": _OPTIONAL_TEXT,
                "product_variant": _OPTIONAL_TEXT,
                "unit_of_measure": _OPTIONAL_TEXT,
                "priority": _optional_enum(PRIORITIES),
                "customer_order_id": _OPTIONAL_TEXT,
                "production_line_preference": _OPTIONAL_TEXT,
                "special_instructions": _OPTIONAL_TEXT,
                "bill_of_materials": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["material_id", "quantity_required"],
                        "properties": {
                            "material_id": _REQUIRED_TEXT,
                            "part_number": _OPTIONAL_TEXT,
                            "part_name": _OPTIONAL_TEXT,
                            "quantity_required": {"type": "number", "minimum": 0},
                            "unit_of_measure": _OPTIONAL_TEXT,
                        },
                    },
                },
            },
        },
    },
}
# The seed's schema allows an empty id; the landing contract requires one.
WORK_ORDER_SCHEMA["properties"]["work_order"]["properties"]["erp_work_order_id"] = _REQUIRED_TEXT
WORK_ORDER_SCHEMA["properties"]["work_order"]["properties"]["product_id"] = _REQUIRED_TEXT

# 003 §5.2.1 "Real-Time Attendance Webhook" payload.
ATTENDANCE_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["event_type", "timestamp", "employee_id"],
    "properties": {
        "event_type": {"type": "string", "enum": list(ATTENDANCE_EVENTS)},
        "timestamp": _DATE_TIME,
        "employee_id": _REQUIRED_TEXT,
        "location": _OPTIONAL_TEXT,
        "shift_id": _OPTIONAL_TEXT,
    },
}

# 000 §2.2: one stage of one PO with planned/actual times (the production_milestones drop shape).
MILESTONE_SCHEMA: dict = {
    "type": "object",
    "required": ["poId", "factory", "stage", "updatedAt"],
    "properties": {
        "poId": _REQUIRED_TEXT,
        "factory": _REQUIRED_TEXT,
        "stage": {"type": "string", "enum": list(STAGES)},
        "workOrderId": _OPTIONAL_TEXT,
        "machineLine": _OPTIONAL_TEXT,
        "plannedStart": _OPTIONAL_DATE_TIME,
        "plannedEnd": _OPTIONAL_DATE_TIME,
        "actualStart": _OPTIONAL_DATE_TIME,
        "actualEnd": _OPTIONAL_DATE_TIME,
        "qaResult": _optional_enum(QA_RESULTS),
        "updatedAt": _DATE_TIME,
    },
}

# 000 §2.3: one scan of one unit (the qr_scans contract, sources/factory/contract.py).
QR_SCAN_SCHEMA: dict = {
    "type": "object",
    "required": ["scanId", "scannedAt", "qrCode", "eventType", "factory", "workerId"],
    "properties": {
        "scanId": _REQUIRED_TEXT,
        "scannedAt": _DATE_TIME,
        "qrCode": _REQUIRED_TEXT,
        "unitType": _optional_enum(UNIT_TYPES),
        "eventType": {"type": "string", "enum": list(SCAN_EVENTS)},
        "stage": _optional_enum(STAGES),
        "poId": _OPTIONAL_TEXT,
        "workOrderId": _OPTIONAL_TEXT,
        "factory": _REQUIRED_TEXT,
        "location": _OPTIONAL_TEXT,
        "workerId": _REQUIRED_TEXT,
        "deviceId": _OPTIONAL_TEXT,
        "quantity": {"type": ["number", "null"], "minimum": 0},
        "qaResult": _optional_enum(QA_RESULTS),
    },
}


def _one_or_batch(item: dict, envelope: str) -> dict:
    """A schema for one item, or ``{envelope: [item, ...]}`` of 1..MAX_BATCH_RECORDS items."""
    batch = {
        "type": "object",
        "required": [envelope],
        "properties": {
            envelope: {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH_RECORDS,
                "items": item,
            }
        },
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "if": {"type": "object", "required": [envelope]},
        "then": batch,
        "else": item,
    }


@dataclass(frozen=True)
class ValidationIssue:
    """One reason a payload was rejected: JSONPath-like location, message, failed keyword."""

    path: str
    message: str
    validator: str

    def as_dict(self) -> dict[str, str]:
        """``{"path", "message", "validator"}`` as in a 400 body's ``details``."""
        return {"path": self.path, "message": self.message, "validator": self.validator}


@dataclass(frozen=True)
class PushEndpoint:
    """One push URL and where its records land.

    Attributes:
        name: short name used in state and logs (``erp_work_orders``).
        path: URL path.
        system: landing system folder.
        entity: landing entity folder (``landing/<tenant>/<system>/<entity>/``).
        schema: JSON schema (draft 7) of the request body.
        seed_ref: the seed sections the payload comes from.
        envelope: key of a batch of records (``{"scans": [...]}``); None if a body is one record.
    """

    name: str
    path: str
    system: str
    entity: str
    schema: dict
    seed_ref: str
    envelope: str | None = None

    @property
    def validator(self) -> Draft7Validator:
        """The compiled schema, checking ``format`` (``date-time`` needs rfc3339-validator)."""
        return _VALIDATORS[self.name]

    def validation_issues(self, body: object) -> list[ValidationIssue]:
        """Every schema violation of ``body``, in document order (empty if valid)."""
        issues = []
        for error in sorted(self.validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
            path = "$" + "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
            )
            issues.append(ValidationIssue(path, error.message, str(error.validator)))
        return issues

    def records(self, body: object) -> list[dict]:
        """The records a valid body lands as: the batch's items, or the body itself."""
        if self.envelope and isinstance(body, dict) and self.envelope in body:
            return list(body[self.envelope])
        return [body]  # type: ignore[list-item]


WORK_ORDERS = PushEndpoint(
    name="erp_work_orders",
    path="/api/v1/integrations/erp/work-orders",
    system="erp",
    entity="work_orders",
    schema=WORK_ORDER_SCHEMA,
    seed_ref="003 §3.2.1, §3.3",
)
ATTENDANCE = PushEndpoint(
    name="hr_attendance",
    path="/api/v1/integrations/hr/attendance",
    system="hr",
    entity="attendance",
    schema=ATTENDANCE_SCHEMA,
    seed_ref="003 §5.2.1, §5.3",
)
MILESTONES = PushEndpoint(
    name="factory_milestones",
    path="/api/v1/integrations/factory/milestones",
    system="factory",
    entity="production_milestones",
    schema=_one_or_batch(MILESTONE_SCHEMA, "milestones"),
    seed_ref="000 §2.2",
    envelope="milestones",
)
QR_SCANS = PushEndpoint(
    name="factory_qr_scans",
    path="/api/v1/integrations/factory/qr-scans",
    system="factory",
    entity="qr_scans",
    schema=_one_or_batch(QR_SCAN_SCHEMA, "scans"),
    seed_ref="000 §2.3",
    envelope="scans",
)

ENDPOINTS: tuple[PushEndpoint, ...] = (WORK_ORDERS, ATTENDANCE, MILESTONES, QR_SCANS)

_VALIDATORS: dict[str, Draft7Validator] = {}
for _endpoint in ENDPOINTS:
    Draft7Validator.check_schema(_endpoint.schema)
    _VALIDATORS[_endpoint.name] = Draft7Validator(
        _endpoint.schema, format_checker=Draft7Validator.FORMAT_CHECKER
    )


def utc_instant(value: str) -> str:
    """An RFC 3339 timestamp as UTC ISO-8601 with microseconds, so ``…Z`` and ``…+00:00`` (or
    ``+08:00`` for the same instant) compare equal; the text itself if it does not parse."""
    try:
        return datetime.fromisoformat(value).astimezone(UTC).isoformat(timespec="microseconds")
    except (TypeError, ValueError):
        return value


def canonical_json(value: object) -> str:
    """Compact JSON with sorted keys: equal payloads give equal text (idempotency body hash)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
