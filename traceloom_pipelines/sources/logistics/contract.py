"""Logistics source contract: shipment milestones from logistics providers (000 §2.4), in two
shapes — the canonical TraceLoom milestone feed and carriers' DCSA Track & Trace v2 events.

Drop folders: ``landing/<tenant>/logistics/shipment_milestones/`` (JSON, JSONL or CSV from a
provider or aggregator) and ``landing/<tenant>/logistics/dcsa_events/`` (DCSA event pages as the
carrier API returns them: a JSON array per page, or the JSONL files the pull in ``connector.py``
writes). Both are polled every 30 minutes (000 §2.4: "polling every 30–60 minutes").

Carriers do not all send DCSA as the standard spells it, and the contract accepts what they
actually send (000 §2.4 "as carriers send them"; the DCSA Track & Trace 2.x field names and code
lists are the canonical form). Before the checks, the reader (:func:`normalise_dcsa_event`)
maps every event to the DCSA spelling:

- field names from :data:`DCSA_FIELD_ALIASES`, matched case-blind at any depth
  (``{"eventId": …, "eventLocation": {"unLocationCode": …}}`` →
  ``{"eventID": …, "eventLocation": {"UNLocationCode": …}}``);
- the coded fields (:func:`coded`) trimmed and upper-cased (``act``, ``Laden`` → ``ACT``,
  ``LADEN``), so their code-list check (``isin``) is case-blind and the canonical code lands.

Beyond that, the contract accepts and staging normalises:

- timestamps with any ISO-8601 offset (``+08:00``) or ``Z`` — they land in UTC;
- optional blocks missing (an equipment event without ``transportCall``, an event without
  ``references``) and extra, carrier-specific fields — ignored;
- the location under ``transportCall.UNLocationCode``, ``transportCall.location.UNLocationCode``
  or ``eventLocation.UNLocationCode`` — all three land as sent, staging takes the first present.

Document references (``BKG`` booking, ``TRD`` transport document) and references (``PO``) are
arrays in DCSA and land as JSON text; staging picks the values by type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial

import pandera.polars as pa

from traceloom_pipelines.landing.checks import JSON, NUMBER, TEXT, TIMESTAMP, field
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.sources.logistics.connector import iter_dcsa_event_records

SEED_REF = "000 §2.4 (Core Logistics Tracking)"

# 000 §2.4 milestones, in shipment order.
MILESTONE_EVENT_TYPES = (
    "GATE_IN",
    "GATE_OUT",
    "LOADED_ON_VESSEL",
    "DEPARTED",
    "ARRIVED",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
)
TRANSPORT_MODES = ("SEA", "AIR", "ROAD", "RAIL")

# DCSA Track & Trace v2 vocabularies (the subset carriers send for container shipments).
DCSA_EVENT_TYPES = ("EQUIPMENT", "TRANSPORT", "SHIPMENT")
DCSA_CLASSIFIERS = ("PLN", "EST", "ACT")
DCSA_EQUIPMENT_EVENT_TYPES = ("GTIN", "GTOT", "LOAD", "DISC", "STUF", "STRP", "PICK", "DROP")
DCSA_TRANSPORT_EVENT_TYPES = ("ARRI", "DEPA")
DCSA_EMPTY_INDICATORS = ("EMPTY", "LADEN")

# DCSA field name → how carriers spell it instead. Keys of an event are matched case-blind
# against both, at any depth (``UNLocationCode`` sits in transportCall, its location and
# eventLocation), and renamed to the DCSA name unless that name is present too.
DCSA_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "eventID": ("eventId",),
    "UNLocationCode": ("unLocationCode",),
}
# Column metadata marking a coded field: its text is upper-cased before the checks.
UPPER_CASE = "upper_case"


def coded(path: str, values: Iterable[str], *, required: bool = False, description: str = ""):
    """A coded text field: one of ``values`` (upper case) after the reader upper-cased it, so
    carriers' ``act`` or ``Laden`` pass and land as ``ACT``, ``LADEN`` (check ``isin``)."""
    column = field(path, TEXT, required=required, accepted=values, description=description)
    column.metadata[UPPER_CASE] = True
    return column


def _renamed(event: dict, names: Mapping[str, str]) -> dict:
    """``event`` with every key found case-blind in ``names`` (casefolded spelling → DCSA name)
    renamed, at any depth, unless the DCSA name is there too; key order is kept."""
    out = {}
    for key, value in event.items():
        name = names.get(key.casefold(), key)
        out[key if name in event else name] = _renamed_within(value, names)
    return out


def _renamed_within(value: object, names: Mapping[str, str]) -> object:
    if isinstance(value, dict):
        return _renamed(value, names)
    if isinstance(value, list):
        return [_renamed_within(item, names) for item in value]
    return value


def _upper_cased(event: dict, paths: Iterable[str]) -> dict:
    """``event`` with the text at each ``$.a.b`` path trimmed and upper-cased (in place)."""
    for path in paths:
        *parents, leaf = path.removeprefix("$.").split(".")
        node: object = event
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(leaf), str):
            node[leaf] = node[leaf].strip().upper()
    return event


shipment_milestones = SourceEntity(
    system="logistics",
    entity="shipment_milestones",
    seed_ref=SEED_REF,
    description=(
        "Shipment milestones from logistics providers (canonical feed); a provider may re-send "
        "or correct an event under the same eventId, the latest reportedAt wins."
    ),
    schema=pa.DataFrameSchema(
        {
            "eventId": field("$.eventId", required=True, description="Provider's event id."),
            "eventType": field(
                "$.eventType",
                required=True,
                accepted=MILESTONE_EVENT_TYPES,
                description="Milestone.",
            ),
            "eventTime": field(
                "$.eventTime", TIMESTAMP, required=True, description="When it happened."
            ),
            "reportedAt": field(
                "$.reportedAt", TIMESTAMP, required=True, description="When it was reported."
            ),
            "bookingNumber": field(
                "$.bookingNumber", required=True, description="Carrier booking reference."
            ),
            "poId": field("$.poId", description="Purchase order the shipment carries."),
            "containerNumber": field("$.containerNumber", description="ISO 6346 container no."),
            "awbNumber": field("$.awbNumber", description="Air waybill number (air freight)."),
            "carrier": field("$.carrier", required=True, description="Carrier SCAC / IATA code."),
            "lane": field("$.lane", description="Trade lane, origin-destination UN/LOCODEs."),
            "mode": field("$.mode", accepted=TRANSPORT_MODES, description="Transport mode."),
            "vesselName": field("$.vesselName", description="Vessel as the provider spells it."),
            "voyage": field("$.voyage", description="Voyage number."),
            "location": field("$.location", description="UN/LOCODE where it happened."),
            "deliveredQuantity": field(
                "$.deliveredQuantity",
                NUMBER,
                non_negative_value=True,
                description="Units handed over (DELIVERED events), in the PO's unit.",
            ),
        },
        name="logistics.shipment_milestones",
    ),
)

DCSA_SCHEMA = pa.DataFrameSchema(
    {
        "eventID": field("$.eventID", required=True, description="Carrier's event id."),
        "eventType": coded("$.eventType", DCSA_EVENT_TYPES, required=True),
        "eventClassifierCode": coded(
            "$.eventClassifierCode",
            DCSA_CLASSIFIERS,
            required=True,
            description="PLN planned, EST estimated, ACT actual.",
        ),
        "eventDateTime": field("$.eventDateTime", TIMESTAMP, required=True),
        "eventCreatedDateTime": field("$.eventCreatedDateTime", TIMESTAMP, required=True),
        "equipmentEventTypeCode": coded("$.equipmentEventTypeCode", DCSA_EQUIPMENT_EVENT_TYPES),
        "transportEventTypeCode": coded("$.transportEventTypeCode", DCSA_TRANSPORT_EVENT_TYPES),
        "equipmentReference": field("$.equipmentReference", description="Container no."),
        "emptyIndicatorCode": coded("$.emptyIndicatorCode", DCSA_EMPTY_INDICATORS),
        "transportCall_UNLocationCode": field("$.transportCall.UNLocationCode"),
        "transportCall_location_UNLocationCode": field("$.transportCall.location.UNLocationCode"),
        "eventLocation_UNLocationCode": field("$.eventLocation.UNLocationCode"),
        "transportCall_exportVoyageNumber": field("$.transportCall.exportVoyageNumber"),
        "transportCall_carrierVoyageNumber": field(
            "$.transportCall.carrierVoyageNumber", description="DCSA 2.0/2.1 name."
        ),
        "transportCall_modeOfTransport": field("$.transportCall.modeOfTransport"),
        "vessel_vesselName": field("$.transportCall.vessel.vesselName"),
        "vessel_vesselIMONumber": field("$.transportCall.vessel.vesselIMONumber"),
        "vessel_vesselOperatorCarrierCode": field(
            "$.transportCall.vessel.vesselOperatorCarrierCode",
            description="Operating carrier (SCAC).",
        ),
        "documentReferences": field(
            "$.documentReferences", JSON, description="[{documentReferenceType, …Value}]."
        ),
        "references": field("$.references", JSON, description="[{referenceType, …Value}]."),
    },
    name="logistics.dcsa_events",
)
_ALIAS_NAMES = {
    spelling.casefold(): name
    for name, spellings in DCSA_FIELD_ALIASES.items()
    for spelling in (name, *spellings)
}
_CODE_PATHS = tuple(
    column.metadata["path"]
    for column in DCSA_SCHEMA.columns.values()
    if column.metadata.get(UPPER_CASE)
)


def normalise_dcsa_event(event: dict) -> dict:
    """One DCSA event (parsed JSON object) in the DCSA spelling the contract checks: field names
    from :data:`DCSA_FIELD_ALIASES` renamed, coded fields trimmed and upper-cased.

    ``{"eventId": "e1", "eventType": "Equipment", "emptyIndicatorCode": "Laden",
    "transportCall": {"unLocationCode": "CNYTN"}}`` → ``{"eventID": "e1", "eventType":
    "EQUIPMENT", "emptyIndicatorCode": "LADEN", "transportCall": {"UNLocationCode": "CNYTN"}}``.
    Everything else stays as the carrier sent it (values of other fields, extra fields, order).
    """
    return _upper_cased(_renamed(event, _ALIAS_NAMES), _CODE_PATHS)


dcsa_events = SourceEntity(
    system="logistics",
    entity="dcsa_events",
    seed_ref=f"{SEED_REF}; DCSA Track & Trace 2.x events",
    description=(
        "DCSA Track & Trace v2 equipment and transport events (PLN/EST/ACT) as carriers send "
        "them, one record per event of a page; carriers' field spellings (`eventId`, "
        "`unLocationCode`) are read as DCSA's and coded fields upper-cased before the checks."
    ),
    reader=partial(iter_dcsa_event_records, normalise=normalise_dcsa_event),
    file_suffixes=(".json", ".jsonl"),
    schema=DCSA_SCHEMA,
)

shippers = SourceEntity(
    system="logistics",
    entity="shippers",
    seed_ref="000 §2.4; 004 (Identity resolution & MDM)",
    description=(
        "The carriers' shipper parties (who books the freight), as the carrier spells them: no "
        "registry id, so suppliers are matched to them by name and place."
    ),
    schema=pa.DataFrameSchema(
        {
            "shipperId": field("$.shipperId", required=True, description="Carrier's party id."),
            "shipperName": field("$.shipperName", required=True),
            "country": field("$.country", description="ISO 3166-1 alpha-2 country."),
            "city": field("$.city"),
            "updatedAt": field("$.updatedAt", TIMESTAMP, required=True),
        },
        name="logistics.shippers",
    ),
)

ENTITIES = (shipment_milestones, dcsa_events, shippers)
