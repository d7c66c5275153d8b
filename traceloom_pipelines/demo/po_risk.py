"""The demo world's PO delay risks (issue 6 §2) and the Marine Department vessel feeds that make
Hong Kong congested on some days.

The generator knows every report it wrote: the factory's production milestones, the carriers'
milestone reports (with their PLN/EST/ACT classifiers), the HKO warnings, the MarDep vessel
movements and the AIS static reports. From those it rebuilds each PO's twin (the plan, estimate
and projection rules of ``fct_po_timeline``, documented in its yml) and its port windows, then
decides which open POs are at risk and why (the signal rules of ``fct_po_delay_risk``). The
answer-key entry ``po_delay_risk`` lists them; the mart must find exactly these.

MarDep feeds (``landing/public/port/…``, RP04005i / RP05005i / RP05505i XML as published): a
steady port (16 arrivals a HK day, stays of 20–28 h) and a congestion episode of three days
around a chosen Hong Kong port call of an open PO (34 arrivals a day, stays of 60–72 h). The
congested days are computed here with the index formula of ``int_port_congestion_daily``
(queue ratio and dwell ratio, threshold 1.5).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

from traceloom_pipelines.demo.clock import DAY, HOUR, MINUTE
from traceloom_pipelines.demo.logistics import VESSELS, Shipment, _winners
from traceloom_pipelines.demo.purchase_orders import PurchaseOrder

HKT = timezone(timedelta(hours=8))
CONGESTION_THRESHOLD = 1.5  # int_port_congestion_daily, var port_congestion_threshold
REFERENCE_DWELL_HOURS = 24
ETA_TOLERANCE_HOURS = 24  # fct_po_delay_risk, var po_risk_eta_tolerance_hours
LATE_PRODUCTION_HOURS = 24  # fct_po_delay_risk, var po_risk_late_production_hours
SIGNALS = (
    "storm_warning",
    "port_congestion",
    "vessel_eta_late",
    "production_late",
    "sensor_excursion",
)
PORT_FOLDERS = (
    "public/port/vessel_expected_arrivals",
    "public/port/vessels_arrived",
    "public/port/vessels_departed",
)

# stage, sequence, group, offset from the ship window start (hours) by sea and by air, whether
# the lane's transit days come on top (fct_po_timeline.yml, plan rule)
STAGES = (
    ("yarn_received", 1, "production", -342.0, -342.0, False),
    ("knitting", 2, "production", -186.0, -186.0, False),
    ("dyeing", 3, "production", -102.0, -102.0, False),
    ("qa", 4, "production", -66.0, -66.0, False),
    ("packing", 5, "production", -6.0, -6.0, False),
    ("GATE_IN", 6, "logistics", 8.0, 8.0, False),
    ("LOADED_ON_VESSEL", 7, "logistics", 56.0, None, False),
    ("DEPARTED", 8, "logistics", 69.0, 23.0, False),
    ("ARRIVED", 9, "logistics", 69.0, 45.0, True),
    ("GATE_OUT", 10, "logistics", 136.0, 58.0, True),
    ("OUT_FOR_DELIVERY", 11, "logistics", 163.0, 66.0, True),
    ("DELIVERED", 12, "logistics", 170.5, 71.0, True),
)


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _day_ms(day: str) -> int:
    return _ms(f"{day}T00:00:00Z")


def _hk_date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, HKT).date().isoformat()


def transit_days(origin: str, destination: str, ports: list[str]) -> int:
    """The lane plan (macros/po_twin.sql ``planned_transit_days``), days."""
    base = 26 if destination[:2] in ("NL", "DE", "GB") else 16
    return base + 3 * max(0, len(ports) - 2) + (2 if origin[:2] in ("BD", "LK", "IN") else 0)


@dataclass
class Twin:
    """One PO as ``fct_po_timeline`` sees it: planned / expected times (epoch ms) per stage."""

    tenant: str
    po_id: str
    is_open: bool
    ports: list[str]
    planned: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    actual: dict[str, int] = field(default_factory=dict)
    factory_planned: set[str] = field(default_factory=set)
    has_shipped: bool = False
    departed: bool = False  # DEPARTED is done (fct_po_timeline status rule)
    mmsi: str | None = None

    def port_windows(self) -> list[dict]:
        """Port windows (fct_po_delay_risk.yml): port, index, start, end, planned arrival."""
        e, p, n = self.expected, self.planned, len(self.ports)
        out = []
        for k, port in enumerate(self.ports):
            if k == 0:
                start, end, planned = e["GATE_IN"], e["DEPARTED"], p["GATE_IN"]
            elif k == n - 1:
                start, end, planned = e["ARRIVED"], e["GATE_OUT"], p["ARRIVED"]
            else:
                start = e["DEPARTED"] + (e["ARRIVED"] - e["DEPARTED"]) * k // (n - 1)
                end = start + DAY
                planned = p["DEPARTED"] + (p["ARRIVED"] - p["DEPARTED"]) * k // (n - 1)
            out.append({"port": port, "index": k, "start": start, "end": end, "planned": planned})
        return out


def _production_rows(production_drop) -> dict[tuple[str, str], dict]:
    """(poId, stage) → the factory's latest clean row (defect records are tuples: skipped)."""
    latest: dict[tuple[str, str], dict] = {}
    for drop in production_drop.drops:
        for item in drop.items:
            if not isinstance(item, dict):
                continue
            k = (item["poId"], item["stage"])
            if k not in latest or item["updatedAt"] >= latest[k]["updatedAt"]:
                latest[k] = item
    return latest


def build_twins(
    tenant: str, pos: list[PurchaseOrder], shipments: list[Shipment], production_drop
) -> list[Twin]:
    """The twin of every PO of one tenant, from what the feeds reported by ``as_of``."""
    rows = _production_rows(production_drop)
    by_po = {s.po.po_id: s for s in shipments}
    mmsi = {v.name: v.mmsi for v in VESSELS}
    twins = []
    for po in sorted(pos, key=lambda p: p.po_id):
        latest = po.latest
        route = latest["routeTemplate"]
        s = by_po.get(po.po_id)
        air = s is not None and s.air
        winners = _winners(s) if s else {}
        start = _day_ms(latest["shipWindowStart"])
        transit = transit_days(route["origin"], route["destination"], route["ports"])
        twin = Twin(tenant, po.po_id, False, list(route["ports"]))
        carried: int | None = None
        known_seq = [0]
        for stage, seq, group, sea, air_off, after in STAGES:
            offset = air_off if air else sea
            if offset is None:
                continue
            rule = start + int(offset * HOUR) + (0 if air or not after else transit * DAY)
            estimated = None
            if group == "production":
                row = rows.get((po.po_id, stage))
                planned = _ms(row["plannedEnd"]) if row else rule
                actual = _ms(row["actualEnd"]) if row and row["actualEnd"] else None
                if row:
                    twin.factory_planned.add(stage)
            else:
                pln, est, act = (winners.get((stage, c)) for c in ("PLN", "EST", "ACT"))
                planned = pln["report"].event_at if pln else rule
                estimated = est["report"].event_at if est else None
                actual = act["report"].event_at if act else None
            twin.planned[stage] = planned
            if actual is not None:
                twin.actual[stage] = actual
                known_seq.append(seq)
            known = actual if actual is not None else estimated
            if known is not None:
                twin.expected[stage] = known
            else:
                twin.expected[stage] = planned + max(0, carried or 0) // 1000 * 1000
            if known is not None:
                carried = known - planned
        last = max(known_seq)
        done = {
            st for st, seq, *_ in STAGES if st in twin.planned and (st in twin.actual or seq < last)
        }
        twin.has_shipped = any(st in done for st, _, g, *_ in STAGES if g == "logistics")
        twin.departed = "DEPARTED" in done
        twin.is_open = latest["poStatus"] != "cancelled" and "DELIVERED" not in twin.actual
        if s is not None and s.vessel is not None:
            twin.mmsi = mmsi[s.vessel.name]
        twins.append(twin)
    return twins


# --- MarDep vessel movements --------------------------------------------------------------


def _hk_text(ms: int, arrival_style: bool = False) -> str:
    moment = datetime.fromtimestamp(ms / 1000, HKT)
    if arrival_style:
        return moment.strftime("%d-%b-%Y %H:%M").upper()
    return moment.strftime("%Y/%m/%d %H:%M")


_NAMES = ("PACIFIC", "ORIENT", "JADE", "PEARL", "LION ROCK", "TSING YI", "LAMMA", "KOWLOON")
_SUFFIXES = ("STAR", "TRADER", "GLORY", "BRIDGE", "EXPRESS", "VENTURE")


def mardep_files(
    seed: int, as_of_ms: int, congested_at_ms: int
) -> tuple[dict[str, str], list[str]]:
    """MarDep feed files (one XML per feed and Hong Kong day) for the 30 days before ``as_of``
    (expected arrivals two days beyond) with a congestion episode on the HK day of
    ``congested_at_ms`` and the days either side; returns ``(files, congested HK dates)``."""
    rng = random.Random(f"{seed}-mardep")
    start = as_of_ms - 30 * DAY
    peak = _hk_date(congested_at_ms)
    peak_day = datetime.fromisoformat(peak).date()
    busy = {(peak_day + timedelta(days=d)).isoformat() for d in (-1, 0, 1)}
    slow = {(peak_day + timedelta(days=d)).isoformat() for d in (-2, -1, 0, 1)}
    visits = []
    first = datetime.fromtimestamp((start - 3 * DAY) / 1000, HKT).date()
    last = datetime.fromtimestamp((as_of_ms + 2 * DAY) / 1000, HKT).date()
    day = first
    n = 0
    while day <= last:
        iso = day.isoformat()
        midnight = int(datetime(day.year, day.month, day.day, tzinfo=HKT).timestamp() * 1000)
        for _ in range(34 if iso in busy else 16):
            n += 1
            arrive = midnight + rng.randrange(0, 24 * 60) * MINUTE
            stay = rng.randint(60 * 60, 72 * 60) if iso in slow else rng.randint(20 * 60, 28 * 60)
            name = f"{_NAMES[n % len(_NAMES)]} {_SUFFIXES[n % len(_SUFFIXES)]} {n % 97 + 1}"
            visits.append((f"VR{n:04d}", name, arrive, arrive + stay * MINUTE))
        day += timedelta(days=1)
    expected: dict[str, list] = {}
    arrived: dict[str, list] = {}
    departed: dict[str, list] = {}
    for call_sign, name, arrive, depart in visits:
        if start <= arrive < as_of_ms + 2 * DAY:
            expected.setdefault(_hk_date(arrive), []).append((call_sign, name, arrive))
        if start <= arrive < as_of_ms:
            arrived.setdefault(_hk_date(arrive), []).append((call_sign, name, arrive))
        if start <= depart < as_of_ms:
            departed.setdefault(_hk_date(depart), []).append((call_sign, name, depart))
    files = {}
    for feed, folder, rows in (
        ("RP04005I", PORT_FOLDERS[0], expected),
        ("RP05005I", PORT_FOLDERS[1], arrived),
        ("RP05505I", PORT_FOLDERS[2], departed),
    ):
        for hk_day, entries in sorted(rows.items()):
            body = []
            for call_sign, name, at in sorted(entries, key=lambda e: e[1]):
                fields = [
                    ("CALL_SIGN", call_sign),
                    ("VESSEL_NAME", name),
                    ("SHIP_TYPE", "CONTAINER"),
                ]
                if feed == "RP04005I":
                    fields += [("LAST_PORT", "SHENZHEN, GD"), ("ETA", _hk_text(at))]
                elif feed == "RP05005I":
                    fields += [
                        ("CURRENT_LOCATION", "KWAI TSING CONTAINER TERMINAL"),
                        ("ARRIVAL_TIME", _hk_text(at, arrival_style=True)),
                    ]
                else:
                    fields += [("ATD_TIME", _hk_text(at)), ("LAST_BERTH", "KWAI TSING CT 9")]
                inner = "".join(f"\n      <{k}>{escape(v)}</{k}>" for k, v in fields)
                body.append(f"    <G_SQL1>{inner}\n    </G_SQL1>")
            text = '<?xml version="1.0" encoding="UTF-8"?>\n'
            text += f"<{feed}XML>\n" + "\n".join(body) + f"\n</{feed}XML>\n"
            files[f"{folder}/{feed.lower()}_{hk_day.replace('-', '')}.xml"] = text
    return files, _congested_days(visits, start, as_of_ms)


def _congested_days(visits: list[tuple], start: int, as_of_ms: int) -> list[str]:
    """int_port_congestion_daily's formula over the visits the feeds publish (minute times)."""
    calls: dict[str, set] = {}
    departures: dict[str, list] = {}
    for call_sign, _, arrive, depart in visits:
        if start <= arrive < as_of_ms + 2 * DAY:
            calls.setdefault(_hk_date(arrive), set()).add(call_sign)
        if start <= depart < as_of_ms:
            stay = (depart - arrive) / HOUR if start <= arrive < as_of_ms else None
            departures.setdefault(_hk_date(depart), []).append(stay)
    days = sorted(set(calls) | set(departures))
    covered = {}
    for d in days:
        if departures.get(d):
            lo = (datetime.fromisoformat(d) - timedelta(days=6)).date().isoformat()
            window = [len(departures[x]) for x in days if lo <= x <= d and departures.get(x)]
            covered[d] = sum(window) / len(window)
    out = []
    for i, d in enumerate(days):
        before = [covered[x] for x in days[: i + 1] if x in covered]
        after = [covered[x] for x in days[i:] if x in covered]
        capacity = before[-1] if before else after[0]
        queue = len(calls.get(d, ())) / capacity
        stays = [s for s in departures.get(d, []) if s is not None]
        dwell = sum(stays) / len(stays) / REFERENCE_DWELL_HOURS if stays else queue
        if (queue + dwell) / 2 >= CONGESTION_THRESHOLD:
            out.append(d)
    return out


# --- targets and the answer key -------------------------------------------------------------


def hk_call_targets(twins: list[Twin], as_of_ms: int) -> tuple[int | None, int | None]:
    """(typhoon call, congestion call): expected Hong Kong port-call starts (ms) of two open POs
    (one if there is only one) between 25 and 3 days before ``as_of``; None when there is none."""
    calls = sorted(
        (w["start"], t.tenant, t.po_id)
        for t in twins
        if t.is_open
        for w in t.port_windows()
        if w["port"] == "HKHKG" and as_of_ms - 25 * DAY <= w["start"] <= as_of_ms - 3 * DAY
    )
    if not calls:
        return None, None
    storm = min(calls, key=lambda c: (abs(c[0] - (as_of_ms - 15 * DAY)), c))
    rest = [c for c in calls if c[1:] != storm[1:]] or [storm]
    congestion = min(rest, key=lambda c: (abs(c[0] - (as_of_ms - 6 * DAY)), c))
    return storm[0], congestion[0]


def delay_risk_key(
    twins: list[Twin],
    as_of_ms: int,
    warning_intervals: list[dict],
    congested_days: list[str],
    static_reports: list[dict],
    excursion_pos: set[tuple[str, str]] = frozenset(),
) -> list[dict]:
    """Answer-key ``po_delay_risk``: per open PO at risk, ``tenant_id``, ``po_id`` and its
    ``signals`` (sorted names, :data:`SIGNALS`), by the rules of ``fct_po_delay_risk``;
    ``excursion_pos`` are the (tenant, PO) with a sensor excursion (``demo/sensors.py``)."""
    severe = [
        (_ms(i["started_at"]), _ms(i["ended_at"]) if i["ended_at"] else None)
        for i in warning_intervals
        if (i["warning_statement_code"] == "WTCSGNL" and i["warning_code"] not in ("TC1", "CANCEL"))
        or i["warning_code"] in ("WRAINR", "WRAINB")
    ]
    congested = set(congested_days)
    out = []
    for t in twins:
        if not t.is_open:
            continue
        signals = set()
        for w in t.port_windows():
            if w["port"] == "HKHKG":
                if any(s < w["end"] and (e is None or e > w["start"]) for s, e in severe):
                    signals.add("storm_warning")
                if any(_hk_date(w["start"]) <= d <= _hk_date(w["end"]) for d in congested):
                    signals.add("port_congestion")
            if w["index"] > 0 and t.mmsi is not None:
                sent = [
                    r
                    for r in static_reports
                    if r["mmsi"] == t.mmsi
                    and r["destination"] == w["port"]
                    and t.expected["DEPARTED"] - DAY
                    <= _ms(r["received_at"])
                    <= w["start"] + 2 * DAY
                ]
                if sent:
                    eta = _ms(max(sent, key=lambda r: r["received_at"])["eta_at"])
                    if eta > w["planned"] + ETA_TOLERANCE_HOURS * HOUR:
                        signals.add("vessel_eta_late")
        if not t.has_shipped:
            for stage in t.factory_planned:
                due = t.planned[stage] + LATE_PRODUCTION_HOURS * HOUR
                actual = t.actual.get(stage)
                if (actual is not None and actual > due) or (actual is None and as_of_ms > due):
                    signals.add("production_late")
        if (t.tenant, t.po_id) in excursion_pos:
            signals.add("sensor_excursion")
        if signals:
            out.append(
                {
                    "tenant_id": t.tenant,
                    "po_id": t.po_id,
                    "signals": [s for s in SIGNALS if s in signals],
                }
            )
    return sorted(out, key=lambda e: (e["tenant_id"], e["po_id"]))
