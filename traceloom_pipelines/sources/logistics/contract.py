"""Logistics source contract: shipment milestones from logistics providers (000 §2.4), in two
shapes — the canonical TraceLoom milestone feed and carriers' DCSA Track & Trace v2 events.

Drop folders: ``landing/<tenant>/logistics/shipment_milestones/`` (JSON, JSONL or CSV from a
provider or aggregator) and ``landing/<tenant>/logistics/dcsa_events/`` (DCSA event pages as the
carrier API returns them: a JSON array per page, or the JSONL files the pull in ``connector.py``
writes). Both are polled every 30 minutes (000 §2.4: "polling every 30–60 minutes").

Carriers do not all send DCSA as the standard spells it, and the contract accepts what they
actually send (the dbt staging model normalises it):

- codes in lower case (``act``, ``load``, ``bkg``) — the coded fields are checked case-blind
  (check ``isin_any_case``);
- timestamps with any ISO-8601 offset (``+08:00``) or ``Z`` — they land in UTC;
- optional blocks missing (an equipment event without ``transportCall``, an event without
  ``references``) and extra, carrier-specific fields — ignored;
- the location under ``transportCall.UNLocationCode``, ``transportCall.location.UNLocationCode``
  or ``eventLocation.UNLocationCode`` — all three land, staging takes the first present.

Document references (``BKG`` booking, ``TRD`` transport document) and references (``PO``) are
arrays in DCSA and land as JSON text; staging picks the values by type.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandera.polars as pa
import polars as pl

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


def isin_any_case(values: Iterable[str]) -> pa.Check:
    """Check ``isin_any_case``: the text, trimmed and upper-cased, is one of ``values`` (given
    in upper case); null passes. For carriers that send ``act`` for ``ACT``."""
    accepted = sorted(v.upper() for v in values)

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        raw = pl.col(data.key)
        return data.lazyframe.select(
            raw.is_null() | raw.str.strip_chars().str.to_uppercase().is_in(accepted)
        )

    return pa.Check(check, name="isin_any_case", statistics={"allowed_values": accepted})


def coded(path: str, values: Iterable[str], *, required: bool = False, description: str = ""):
    """A coded text field accepted in any case (see :func:`isin_any_case`)."""
    return field(path, TEXT, required=required, description=description).set_checks(
        [isin_any_case(values)]
    )


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

dcsa_events = SourceEntity(
    system="logistics",
    entity="dcsa_events",
    seed_ref=f"{SEED_REF}; DCSA Track & Trace 2.x events",
    description=(
        "DCSA Track & Trace v2 equipment and transport events (PLN/EST/ACT) as carriers send "
        "them, one record per event of a page."
    ),
    reader=iter_dcsa_event_records,
    file_suffixes=(".json", ".jsonl"),
    schema=pa.DataFrameSchema(
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
            "transportCall_location_UNLocationCode": field(
                "$.transportCall.location.UNLocationCode"
            ),
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
    ),
)

ENTITIES = (shipment_milestones, dcsa_events)
