"""Shipments of the demo world's POs and their milestones (000 §2.4), as two feeds: the canonical
milestone feed of logistics providers (JSONL per day) and one carrier's DCSA Track & Trace v2
events (JSON array pages per day), with the defects real feeds have.

Every PO that is not cancelled and whose booking exists by ``as_of`` gets one container shipment
from its factory's port (the route template's origin) to its destination. The shipment truth
follows the PO's production truth: the container gates in after packing ends (so late production
means a late shipment), some shipments are rolled to a later sailing, and transit time depends on
the route. Feeds only report what happened (or was planned / estimated) before ``as_of``.

Injected, and written to the answer key so the marts can be checked exactly:

- late reports (an event reported days after it happened, in a later file than the events that
  followed it: out of order on arrival);
- re-sent reports (same event id, later report time) and corrections (same event id, the later
  report moves the event time: the latest report wins);
- DCSA quirks: lower-case codes, local ``+08:00``-style offsets, missing ``transportCall`` or
  ``references`` blocks, extra carrier fields, empty-container events that are not milestones,
  and every second DCSA shipment's events in a carrier's own spelling (:func:`carrier_spelling`:
  ``eventId``, ``unLocationCode``, ``Equipment``/``Laden``; they land like the others);
- vessel names spelled differently from the canonical name (``MSC  Anna`` for ``MSC ANNA``);
- a milestone with an event type outside 000 §2.4 (quarantined, ``eventType:isin``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from traceloom_pipelines.demo.clock import DAY, HOUR, MINUTE, date_of, iso_s
from traceloom_pipelines.demo.drops import EntityDrops, dumps
from traceloom_pipelines.demo.masters import TenantWorld
from traceloom_pipelines.demo.purchase_orders import PurchaseOrder

DCSA_CARRIER = "MAEU"
AIR_CARRIER = "CX"  # the PO with the earliest ship window of each tenant is expedited by air
CARRIERS = ("MAEU", "MSCU", "EGLV", "COSU", "OOLU", "ONEY")


def imo_with_check_digit(base: int) -> str:
    """A 7-digit IMO number from a 6-digit base: the last digit is the IMO check digit (sum of
    the digits weighted 7…2, modulo 10)."""
    digits = f"{base:06d}"
    check = sum(int(d) * w for d, w in zip(digits, range(7, 1, -1), strict=True)) % 10
    return f"{digits}{check}"


@dataclass(frozen=True)
class Vessel:
    """A vessel: canonical name (as in AIS / the vessel registry), the spelling the carrier feed
    uses (``None``: the same), operator SCAC, IMO, MMSI and call sign."""

    name: str
    feed_name: str | None
    carrier: str
    imo: str
    mmsi: str
    call_sign: str

    @property
    def spelled_in_feed(self) -> str:
        return self.feed_name or self.name


_VESSEL_ROWS = (
    # name, feed spelling, carrier, IMO base, MMSI, call sign
    ("MAERSK KOWLOON", "Maersk  Kowloon", "MAEU", 977712, "219018765", "OXKW2"),
    ("MAERSK LANTAU", None, "MAEU", 977725, "219018766", "OXLN2"),
    ("MSC ANNA", "MSC  Anna", "MSCU", 983341, "636019825", "D5QK7"),
    ("MSC AURORA", None, "MSCU", 983357, "636019826", "D5QK8"),
    ("EVER GRACE", "EVER-GRACE", "EGLV", 981102, "563157400", "9V7342"),
    ("EVER GOLDEN", None, "EGLV", 981114, "563157401", "9V7343"),
    ("COSCO HARMONY", "Cosco Harmony.", "COSU", 978834, "477332100", "VRTH5"),
    ("COSCO SHENZHEN", None, "COSU", 978846, "477332101", "VRTH6"),
    ("OOCL BRIGHTON", "OOCL Brighton", "OOLU", 979318, "477108200", "VRSO4"),
    ("ONE HARBOUR", "ONE HARBOUR ", "ONEY", 980775, "373512000", "3FHB9"),
)
VESSELS = tuple(
    Vessel(name, feed, carrier, imo_with_check_digit(base), mmsi, call)
    for name, feed, carrier, base, mmsi, call in _VESSEL_ROWS
)

# Canonical milestones in shipment order, where they happen and their DCSA code (None: the
# canonical feed only). DISCHARGED is the DCSA-only discharge milestone (DISC).
MILESTONES = (
    ("GATE_IN", "origin", "GTIN"),
    ("LOADED_ON_VESSEL", "origin", "LOAD"),
    ("DEPARTED", "origin", "DEPA"),
    ("ARRIVED", "destination", "ARRI"),
    ("DISCHARGED", "destination", "DISC"),
    ("GATE_OUT", "destination", "GTOT"),
    ("OUT_FOR_DELIVERY", "destination", None),
    ("DELIVERED", "destination", None),
)
CANONICAL_ONLY = ("OUT_FOR_DELIVERY", "DELIVERED")
TRANSPORT_CODES = ("DEPA", "ARRI")
# UTC offsets carriers use for local times at origin ports (by country prefix of the UN/LOCODE).
_LOCAL_OFFSET_MINUTES = {"CN": 480, "HK": 480, "TW": 480, "MY": 480, "SG": 480, "VN": 420}
_LOCAL_OFFSET_MINUTES |= {"TH": 420, "BD": 360, "LK": 330, "IN": 330, "KR": 540}

LATE_REPORT_RATE = 0.08
RESEND_RATE = 0.06
CORRECTION_RATE = 0.05
ROLLED_RATE = 0.3
SHORT_SHIPPED_RATE = 0.2
LATE_REPORT_HOURS = 24  # fct_shipment_milestones.is_late_report: first report > 24 h after


@dataclass
class Report:
    """One report of one milestone: what the feed says and when it says it."""

    milestone: str
    classifier: str
    event_at: int
    reported_at: int
    event_id: str
    location: str


@dataclass
class Shipment:
    """One container shipment of one PO, with its truth (plan/actual per milestone) and reports."""

    po: PurchaseOrder
    booking: str
    container: str
    carrier: str
    vessel: Vessel | None  # None: air freight
    voyage: str  # voyage, or flight number for air freight
    origin: str
    destination: str
    booked_at: int
    planned: dict[str, int]
    actual: dict[str, int]
    delivered_quantity: int
    port_calls: list[dict] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)

    @property
    def dcsa(self) -> bool:
        return self.carrier == DCSA_CARRIER

    @property
    def air(self) -> bool:
        return self.vessel is None


def _offset_iso(ms: int, port: str) -> str:
    """Local time at ``port`` with its offset (``2026-03-01T14:05:00+08:00``)."""
    minutes = _LOCAL_OFFSET_MINUTES.get(port[:2])
    if minutes is None:
        return iso_s(ms)
    local = iso_s(ms + minutes * MINUTE)[:-1]
    return f"{local}+{minutes // 60:02d}:{minutes % 60:02d}"


def _transit_days(origin: str, destination: str, n_ports: int) -> int:
    base = 26 if destination[:2] in ("NL", "DE", "GB") else 16
    return base + 3 * max(0, n_ports - 2) + (2 if origin[:2] in ("BD", "LK", "IN") else 0)


def build_shipments(world: TenantWorld, pos: list[PurchaseOrder]) -> list[Shipment]:
    """One shipment per PO that is not cancelled and was booked by ``as_of`` (module docstring),
    with every report the two feeds will carry, in PO id order."""
    rng = world.rng("logistics")
    shipments: list[Shipment] = []
    open_pos = [p for p in pos if p.latest["poStatus"] != "cancelled"]
    air_po = min(open_pos, key=lambda p: (p.latest["shipWindowStart"], p.po_id), default=None)
    for po in sorted(pos, key=lambda p: p.po_id):
        latest = po.latest
        if latest["poStatus"] == "cancelled":
            continue
        if po is air_po:
            shipment = _air_shipment(rng, world, po)
            if shipment.reports:
                shipments.append(shipment)
            continue
        route = latest["routeTemplate"]
        origin, destination, ports = route["origin"], route["destination"], route["ports"]
        ship_start = _day_ms(latest["shipWindowStart"])
        planned_gate_in = ship_start + 8 * HOUR
        booked_at = planned_gate_in - 14 * DAY
        if booked_at > world.as_of:
            continue
        # the first two shipments of a tenant go with the DCSA carrier, so both feeds exist
        dcsa_first = sum(1 for s in shipments if s.dcsa) < 2
        carrier = DCSA_CARRIER if dcsa_first else CARRIERS[rng.randrange(len(CARRIERS))]
        transit = _transit_days(origin, destination, len(ports)) * DAY
        planned = _timeline(planned_gate_in, transit, rolled=0)
        ready = po.stages[-1][4] + rng.randint(4 * HOUR, 30 * HOUR)
        rolled = rng.randint(10, 21) * DAY if rng.random() < ROLLED_RATE else 0
        actual = _timeline(ready, int(transit * rng.uniform(0.95, 1.12)), rolled, rng)
        week = actual["DEPARTED"] // (7 * DAY)
        fleet = [v for v in VESSELS if v.carrier == carrier]
        vessel = fleet[(week + sum(map(ord, origin))) % len(fleet)]
        bound = "W" if destination[:2] in ("NL", "DE", "GB") else "E"
        voyage = f"{100 + (week * 7 + VESSELS.index(vessel)) % 900}{bound}"
        quantity = int(latest["quantity"])
        step = world.profile.lot_step
        short = rng.random() < SHORT_SHIPPED_RATE and quantity > step
        serial = 1_000_000 + world.index * 200_000 + len(shipments) * 37 % 100_000
        shipment = Shipment(
            po=po,
            booking=f"{carrier[:3]}{world.index + 1}{po.po_id[-6:]}{rng.randint(10, 99)}",
            container=f"{carrier[:3]}U{serial:07d}",
            carrier=carrier,
            vessel=vessel,
            voyage=voyage,
            origin=origin,
            destination=destination,
            booked_at=booked_at,
            planned=planned,
            actual=actual,
            delivered_quantity=quantity - step * rng.randint(1, 3) if short else quantity,
        )
        shipment.delivered_quantity = max(step, shipment.delivered_quantity)
        shipment.port_calls = _port_calls(ports, planned, actual)
        _reports(rng, world, shipment)
        if shipment.reports:
            shipments.append(shipment)
    return shipments


def _air_shipment(rng: random.Random, world: TenantWorld, po: PurchaseOrder) -> Shipment:
    """An air-freight shipment (AWB, flight, no vessel; canonical feed only) of ``po``."""
    latest = po.latest
    route = latest["routeTemplate"]
    planned_gate_in = _day_ms(latest["shipWindowStart"]) + 8 * HOUR
    ready = po.stages[-1][4] + rng.randint(4 * HOUR, 12 * HOUR)
    times = []
    for start in (planned_gate_in, ready):
        out = {"GATE_IN": start}
        out["DEPARTED"] = out["GATE_IN"] + rng.randint(10 * HOUR, 20 * HOUR)
        out["ARRIVED"] = out["DEPARTED"] + rng.randint(14 * HOUR, 30 * HOUR)
        out["GATE_OUT"] = out["ARRIVED"] + rng.randint(6 * HOUR, 20 * HOUR)
        out["OUT_FOR_DELIVERY"] = out["GATE_OUT"] + rng.randint(4 * HOUR, 12 * HOUR)
        out["DELIVERED"] = out["OUT_FOR_DELIVERY"] + rng.randint(2 * HOUR, 8 * HOUR)
        times.append({k: v - v % MINUTE for k, v in out.items()})
    awb_serial = 1_000_000 + world.index * 100_000 + int(po.po_id[-5:])
    shipment = Shipment(
        po=po,
        booking=f"AWB160{awb_serial:07d}",
        container=f"160-{awb_serial:07d}{awb_serial % 7}",  # the AWB number (check digit mod 7)
        carrier=AIR_CARRIER,
        vessel=None,
        voyage=f"CX{3200 + world.index * 10 + rng.randint(0, 9)}",
        origin=route["origin"],
        destination=route["destination"],
        booked_at=planned_gate_in - 3 * DAY,
        planned=times[0],
        actual=times[1],
        delivered_quantity=int(latest["quantity"]),
    )
    shipment.port_calls = _port_calls([shipment.origin, shipment.destination], *times)
    if shipment.booked_at <= world.as_of:
        _reports(rng, world, shipment)
    return shipment


def _day_ms(day: str) -> int:
    from datetime import date

    return (date.fromisoformat(day) - date(1970, 1, 1)).days * DAY


def _timeline(gate_in: int, transit: int, rolled: int, rng: random.Random | None = None) -> dict:
    """Milestone → instant (ms). Planned when ``rng`` is None, else actual with jitter."""

    def span(lo: int, hi: int) -> int:
        return (lo + hi) // 2 if rng is None else rng.randint(lo, hi)

    out = {"GATE_IN": gate_in}
    out["LOADED_ON_VESSEL"] = out["GATE_IN"] + span(DAY, 3 * DAY) + rolled
    out["DEPARTED"] = out["LOADED_ON_VESSEL"] + span(6 * HOUR, 20 * HOUR)
    out["ARRIVED"] = out["DEPARTED"] + transit
    out["DISCHARGED"] = out["ARRIVED"] + span(8 * HOUR, 30 * HOUR)
    out["GATE_OUT"] = out["DISCHARGED"] + span(DAY, 3 * DAY)
    out["OUT_FOR_DELIVERY"] = out["GATE_OUT"] + span(6 * HOUR, 2 * DAY)
    out["DELIVERED"] = out["OUT_FOR_DELIVERY"] + span(3 * HOUR, 12 * HOUR)
    return {k: v - v % MINUTE for k, v in out.items()}


def _port_calls(ports: list[str], planned: dict, actual: dict) -> list[dict]:
    """Every port of the route with planned and actual arrival/departure (UTC ISO; the AIS and
    weather generators place vessels and storms on these windows). Transshipment calls are
    spread evenly over the voyage and last a day."""
    out = []
    n = len(ports)
    for i, port in enumerate(ports):
        call = {"port": port, "sequence": i + 1}
        for kind, times in (("planned", planned), ("actual", actual)):
            dep, arr = times["DEPARTED"], times["ARRIVED"]
            if i == 0:
                a, d = times["GATE_IN"], dep
            elif i == n - 1:
                a, d = arr, times["GATE_OUT"]
            else:
                a = dep + (arr - dep) * i // (n - 1)
                d = a + DAY
            call[f"{kind}_arrival"] = iso_s(a)
            call[f"{kind}_departure"] = iso_s(d)
        out.append(call)
    return out


def _lag(rng: random.Random) -> int:
    if rng.random() < LATE_REPORT_RATE:
        return rng.randint(48 * HOUR, 96 * HOUR)
    return rng.randint(5 * MINUTE, 90 * MINUTE)


def _reports(rng: random.Random, world: TenantWorld, s: Shipment) -> None:
    """Fill ``s.reports``: only what is reported by ``as_of``."""
    as_of = world.as_of
    where = {m: w for m, w, _ in MILESTONES}

    def add(milestone: str, classifier: str, at: int, reported: int, event_id: str = "") -> Report:
        location = s.origin if where[milestone] == "origin" else s.destination
        event_id = event_id or f"{s.booking}-{len(s.reports) + 1:03d}"
        report = Report(milestone, classifier, at, reported, event_id, location)
        s.reports.append(report)
        return report

    for milestone, _, code in MILESTONES:
        if milestone not in s.actual:
            continue  # air freight: no vessel loading or discharge
        via_dcsa = s.dcsa and code is not None
        if not via_dcsa and milestone == "DISCHARGED":
            continue  # 000 §2.4 has no discharge milestone: only DCSA reports it
        actual = s.actual[milestone]
        if via_dcsa:
            add(milestone, "PLN", s.planned[milestone], s.booked_at)
            estimated_at = max(s.booked_at + HOUR, actual - 3 * DAY)
            if estimated_at <= as_of:
                first_estimate = s.actual["DEPARTED"] + 2 * HOUR
                if milestone == "ARRIVED" and first_estimate < estimated_at:
                    # the first estimate after departure is a day or two late
                    add(milestone, "EST", actual + rng.randint(DAY, 2 * DAY), first_estimate)
                add(milestone, "EST", actual + rng.randint(-6, 6) * HOUR, estimated_at)
        reported = actual + _lag(rng)
        if reported > as_of:
            continue
        roll = rng.random()
        if roll < CORRECTION_RATE:
            wrong = actual + rng.choice((-1, 1)) * rng.randint(1, 4) * HOUR
            first = add(milestone, "ACT", wrong, reported)
            corrected = reported + rng.randint(2 * HOUR, 30 * HOUR)
            add(milestone, "ACT", actual, corrected, first.event_id)
        else:
            first = add(milestone, "ACT", actual, reported)
            if roll < CORRECTION_RATE + RESEND_RATE:
                resent = reported + rng.randint(HOUR, 12 * HOUR)
                add(milestone, "ACT", actual, resent, first.event_id)
    s.reports = [r for r in s.reports if r.reported_at <= as_of]


# --- feeds ------------------------------------------------------------------------------------


def milestone_record(s: Shipment, r: Report, world: TenantWorld) -> dict:
    """A canonical-feed record (000 §2.4 shape) of one report."""
    record = {
        "eventId": r.event_id,
        "eventType": r.milestone,
        "eventTime": iso_s(r.event_at),
        "reportedAt": iso_s(r.reported_at),
        "bookingNumber": s.booking,
        "poId": s.po.po_id,
        "containerNumber": s.container,
        "carrier": s.carrier,
        "lane": f"{s.origin}-{s.destination}",
        "mode": "SEA",
        "vesselName": s.vessel.spelled_in_feed if s.vessel else None,
        "voyage": s.voyage,
        "location": r.location,
    }
    if s.air:
        record.update(mode="AIR", awbNumber=record.pop("containerNumber"))
        del record["vesselName"]
    if r.milestone == "DELIVERED":
        record["deliveredQuantity"] = s.delivered_quantity
    return record


def dcsa_record(rng: random.Random, s: Shipment, r: Report) -> dict:
    """A DCSA Track & Trace v2 event of one report, with carrier quirks (module docstring)."""
    code = dict((m, c) for m, _, c in MILESTONES)[r.milestone]
    transport = code in TRANSPORT_CODES
    lower = rng.random() < 0.1
    case = str.lower if lower else str
    event: dict = {
        "eventID": r.event_id,
        "eventType": case("TRANSPORT" if transport else "EQUIPMENT"),
        "eventClassifierCode": case(r.classifier),
        "eventDateTime": (
            _offset_iso(r.event_at, r.location) if rng.random() < 0.6 else iso_s(r.event_at)
        ),
        "eventCreatedDateTime": iso_s(r.reported_at),
    }
    if transport:
        event["transportEventTypeCode"] = case(code)
        if r.classifier != "PLN" and rng.random() < 0.3:
            event["delayReasonCode"] = "WEA" if rng.random() < 0.5 else "CON"
    else:
        event["equipmentEventTypeCode"] = case(code)
        event["equipmentReference"] = s.container
        event["ISOEquipmentCode"] = "45G1"
        event["emptyIndicatorCode"] = "LADEN"
    call = {
        "transportCallID": f"{s.vessel.imo}-{s.voyage}-{r.location}",
        "carrierServiceCode": "AE7" if s.destination[:2] in ("NL", "DE", "GB") else "TP6",
        "exportVoyageNumber": s.voyage,
        "modeOfTransport": "VESSEL",
        "vessel": {
            "vesselIMONumber": s.vessel.imo,
            "vesselName": s.vessel.spelled_in_feed,
            "vesselCallSignNumber": s.vessel.call_sign,
            "vesselOperatorCarrierCode": s.carrier,
            "vesselOperatorCarrierCodeListProvider": "NMFTA",
        },
    }
    if rng.random() < 0.5:
        call["UNLocationCode"] = r.location
    else:
        call["location"] = {"UNLocationCode": r.location, "locationName": r.location}
    if code == "GTIN" and rng.random() < 0.3:
        event["eventLocation"] = {"UNLocationCode": r.location}  # no transportCall block yet
    else:
        event["transportCall"] = call
    bkg = "bkg" if lower else "BKG"
    event["documentReferences"] = [
        {"documentReferenceType": bkg, "documentReferenceValue": s.booking},
        {"documentReferenceType": "TRD", "documentReferenceValue": f"{s.booking}B"},
    ]
    if rng.random() < 0.75:
        event["references"] = [{"referenceType": "PO", "referenceValue": s.po.po_id}]
    if rng.random() < 0.2:
        event["carrierSpecificData"] = {"internalStatus": f"S{rng.randint(10, 99)}"}
    return event


# DCSA field names as some carriers spell them, and the coded fields they send in title case.
CARRIER_FIELD_SPELLINGS = {"eventID": "eventId", "UNLocationCode": "unLocationCode"}
CARRIER_TITLE_CASE_FIELDS = (
    "eventType",
    "eventClassifierCode",
    "equipmentEventTypeCode",
    "transportEventTypeCode",
    "emptyIndicatorCode",
)


def _respelled(mapping: dict) -> dict:
    return {CARRIER_FIELD_SPELLINGS.get(k, k): _respelled_within(v) for k, v in mapping.items()}


def _respelled_within(value: object) -> object:
    if isinstance(value, dict):
        return _respelled(value)
    if isinstance(value, list):
        return [_respelled_within(item) for item in value]
    return value


def carrier_spelling(event: dict) -> dict:
    """``event`` as some carriers spell DCSA: ``eventId`` for ``eventID``, ``unLocationCode``
    for ``UNLocationCode`` (at any depth) and the codes in title case (``EQUIPMENT`` →
    ``Equipment``, ``LADEN`` → ``Laden``). The contract reads it back as DCSA's spelling."""
    out = _respelled(event)
    for name in CARRIER_TITLE_CASE_FIELDS:
        if isinstance(out.get(name), str):
            out[name] = out[name].title()
    return out


def _dcsa_text(event: dict, carrier_spelled: bool) -> str:
    return dumps(carrier_spelling(event) if carrier_spelled else event)


def _empty_pickup(s: Shipment) -> Report:
    """The empty container leaving the depot before stuffing: a DCSA GTOT that is no milestone."""
    at = s.actual["GATE_IN"] - 2 * DAY
    return Report("GATE_OUT", "ACT", at, at + 30 * MINUTE, f"{s.booking}-EMPTY", s.origin)


def logistics_drops(
    world: TenantWorld, shipments: list[Shipment]
) -> tuple[list[EntityDrops], list[dict]]:
    """``logistics/shipment_milestones`` (JSONL per report day) and ``logistics/dcsa_events``
    (JSON array pages of 25 events per creation day) with one quarantined milestone (an unknown
    event type) per tenant; returns the entity drops (only those with files) and the quarantine
    tags (filled with file and row when written)."""
    rng = world.rng("logistics-feeds")
    canonical: dict[str, list[tuple[int, str, object]]] = {}
    dcsa: dict[str, list[tuple[int, str, object]]] = {}
    respelled = {id(s) for s in [s for s in shipments if s.dcsa][1::2]}
    for s in shipments:
        for r in s.reports:
            if s.dcsa and r.milestone not in CANONICAL_ONLY:
                text = _dcsa_text(dcsa_record(rng, s, r), id(s) in respelled)
                dcsa.setdefault(date_of(r.reported_at), []).append(
                    (r.reported_at, r.event_id, text)
                )
            else:
                text = dumps(milestone_record(s, r, world))
                canonical.setdefault(date_of(r.reported_at), []).append(
                    (r.reported_at, r.event_id, text)
                )
        if s.dcsa and s.actual["GATE_IN"] - 2 * DAY + 30 * MINUTE <= world.as_of:
            empty = _empty_pickup(s)
            event = dcsa_record(rng, s, empty)
            event["emptyIndicatorCode"] = "EMPTY"
            event.pop("references", None)
            dcsa.setdefault(date_of(empty.reported_at), []).append(
                (empty.reported_at, empty.event_id, _dcsa_text(event, id(s) in respelled))
            )
    tags: list[dict] = []
    milestones = EntityDrops(world.name, "logistics", "shipment_milestones")
    for day in sorted(canonical):
        items: list = [text for _, _, text in sorted(canonical[day])]
        milestones.add(f"milestones_{day}.jsonl", "jsonl", items)
    if milestones.drops:
        drop = milestones.drops[rng.randrange(len(milestones.drops))]
        bad = json.loads(drop.items[0])
        bad["eventId"] = f"{bad['eventId']}-X"
        bad["eventType"] = "PICKED_UP"  # a provider status outside 000 §2.4
        tag = {
            "kind": "quarantine",
            "tenant_id": world.name,
            "system": "logistics",
            "entity": "shipment_milestones",
            "failed_checks": ["eventType:isin"],
            "defect": "unknown_status",
        }
        drop.items.insert(rng.randint(0, len(drop.items)), (dumps(bad), tag))
        tags.append(tag)
    events = EntityDrops(world.name, "logistics", "dcsa_events")
    for day in sorted(dcsa):
        page = [text for _, _, text in sorted(dcsa[day])]
        for n, start in enumerate(range(0, len(page), 25), start=1):
            name = f"dcsa_{DCSA_CARRIER}_{day}_p{n:03d}.json"
            events.add(name, "array", page[start : start + 25])
    return [e for e in (milestones, events) if e.drops], tags


# --- answer key -------------------------------------------------------------------------------


def _winners(s: Shipment) -> dict[tuple[str, str], dict]:
    """(milestone, classifier) → the latest report (by report time) and the report count."""
    out: dict[tuple[str, str], dict] = {}
    for r in sorted(s.reports, key=lambda r: r.reported_at):
        entry = out.setdefault((r.milestone, r.classifier), {"reports": 0, "first": r.reported_at})
        entry["reports"] += 1
        entry["report"] = r
    return out


def shipment_key(world: TenantWorld, shipments: list[Shipment]) -> tuple[list[dict], list[dict]]:
    """Answer-key ``shipments`` and ``vessels`` entries of one tenant.

    ``shipments[].milestones`` is exactly what ``fct_shipment_milestones`` must hold for the
    shipment: one entry per milestone × classifier with the event time of the latest report
    (UTC ISO), the number of reports merged, whether the first report came more than
    :data:`LATE_REPORT_HOURS` after the event (``late_report``) and whether an event of the same
    classifier that happened later had been reported earlier (``reported_out_of_order``).
    ``delivered_at`` / ``delivered_quantity`` / ``on_time`` / ``in_full`` feed the supplier
    performance check (on time: delivered on or before the requested delivery date, UTC; in
    full: delivered quantity ≥ ordered quantity of the latest PO revision).
    """
    out = []
    vessels: dict[str, dict] = {}
    for s in shipments:
        winners = _winners(s)
        milestones = []
        for (milestone, classifier), w in sorted(winners.items()):
            r = w["report"]
            ooo = any(
                o["report"].event_at > r.event_at and o["first"] < w["first"]
                for (m2, c2), o in winners.items()
                if c2 == classifier and m2 != milestone
            )
            milestones.append(
                {
                    "milestone": milestone,
                    "classifier": classifier,
                    "event_at": iso_s(r.event_at),
                    "reports": w["reports"],
                    "late_report": w["first"] - r.event_at > LATE_REPORT_HOURS * HOUR,
                    "reported_out_of_order": ooo,
                }
            )
        delivered = winners.get(("DELIVERED", "ACT"))
        latest = s.po.latest
        entry = {
            "tenant_id": world.name,
            "shipment_id": s.booking,
            "po_id": s.po.po_id,
            "supplier": latest["supplier"],
            "carrier": s.carrier,
            "feed": "dcsa" if s.dcsa else "milestones",
            "container_number": s.container,
            "mode": "AIR" if s.air else "SEA",
            "vessel_name": s.vessel.name if s.vessel else None,
            "vessel_name_in_feed": s.vessel.spelled_in_feed if s.vessel else None,
            "vessel_imo": s.vessel.imo if s.vessel else None,
            "voyage": s.voyage,
            "origin": s.origin,
            "destination": s.destination,
            "port_calls": s.port_calls,
            "milestones": milestones,
            "delivered_at": None,
            "delivered_quantity": None,
            "ordered_quantity": latest["quantity"],
            "requested_delivery_date": latest["requestedDeliveryDate"],
            "unit_price": latest["price"],
            "po_first_seen_at": iso_s(s.po.times[0]),
            "on_time": None,
            "in_full": None,
        }
        if delivered:
            at = delivered["report"].event_at
            entry["delivered_at"] = iso_s(at)
            entry["delivered_quantity"] = s.delivered_quantity
            entry["on_time"] = date_of(at) <= latest["requestedDeliveryDate"]
            entry["in_full"] = s.delivered_quantity >= latest["quantity"]
        out.append(entry)
        if s.vessel is None:
            continue
        v = vessels.setdefault(
            s.vessel.name,
            {
                "tenant_id": world.name,
                "name": s.vessel.name,
                "imo": s.vessel.imo,
                "mmsi": s.vessel.mmsi,
                "call_sign": s.vessel.call_sign,
                "carrier": s.vessel.carrier,
                "name_in_carrier_feed": s.vessel.spelled_in_feed,
                "voyages": [],
            },
        )
        voyage = {
            "voyage": s.voyage,
            "origin": s.origin,
            "destination": s.destination,
            "departed_at": iso_s(s.actual["DEPARTED"]),
            "arrived_at": iso_s(s.actual["ARRIVED"]),
            "port_calls": s.port_calls,
        }
        if voyage not in v["voyages"]:
            v["voyages"].append(voyage)
    return out, sorted(vessels.values(), key=lambda v: v["name"])


def supplier_performance_key(shipments: list[dict]) -> list[dict]:
    """Answer-key ``supplier_performance``: per tenant × supplier × UTC month of delivery, the
    inputs and results ``fct_supplier_performance`` must show for delivered POs — delivered POs,
    on time, OTIF (on time and in full), rates (0–1), average lead time in days from the PO's
    first revision to delivery (deliveries before the PO was first seen have none) and spend
    (delivered quantity × unit price of the latest revision)."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for s in shipments:
        if s["delivered_at"] is None:
            continue
        month = s["delivered_at"][:7] + "-01"
        groups.setdefault((s["tenant_id"], s["supplier"], month), []).append(s)
    out = []
    for (tenant, supplier, month), rows in sorted(groups.items()):
        leads = [
            (_iso_ms(r["delivered_at"]) - _iso_ms(r["po_first_seen_at"])) / DAY
            for r in rows
            if r["delivered_at"] > r["po_first_seen_at"]
        ]
        on_time = sum(1 for r in rows if r["on_time"])
        otif = sum(1 for r in rows if r["on_time"] and r["in_full"])
        out.append(
            {
                "tenant_id": tenant,
                "supplier": supplier,
                "month": month,
                "po_ids": sorted(r["po_id"] for r in rows),
                "delivered_pos": len(rows),
                "on_time_pos": on_time,
                "otif_pos": otif,
                "on_time_delivery_rate": on_time / len(rows),
                "otif_rate": otif / len(rows),
                "avg_lead_time_days": sum(leads) / len(leads) if leads else None,
                "spend": round(sum(r["delivered_quantity"] * r["unit_price"] for r in rows), 2),
            }
        )
    return out


def _iso_ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
