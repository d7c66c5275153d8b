"""The demo world's sensor readings (000 §3.1, 001 INT-001) and the excursions they hold.

Per tenant, a few short series of readings in the shape of ``iot/sensor_readings``
(:mod:`traceloom_pipelines.sources.iot.contract`), placed where the answer can be checked:

* a temperature sensor on a machine, while one of its work orders runs (→ that work order and
  its PO): one excursion above the machine limit for 6 minutes (≥ 300 s), then a 1-minute blip
  that must not count, and a reading of quality ``bad`` far above the limit that is ignored;
* a humidity sensor in a warehouse (storage area): one excursion of 20 minutes (≥ 900 s), no PO;
* a cold-chain temperature logger in the container of a shipment at sea (→ its shipment and PO,
  an open PO if one is in transit): one excursion of 20 minutes (≥ 900 s) and a 5-minute blip,
  plus two GPS fixes;
* defects: a value that is not a number, an unknown sensor type, a temperature in ``degF``
  (quarantined) and an exact redelivery (a duplicate).

Above that floor (about 40 readings a tenant), in-range vibration series on the tenant's machines
fill at most :data:`ROW_SHARE` of the tenant's other rows, so sensor readings stay a small part
of the world at every scale. Thresholds: ``dbt_project/seeds/sensor_thresholds.csv`` (the limits
below must agree with it). The answer key's ``sensor_excursions`` lists the excursions that
``fct_sensor_excursions`` must hold, with the PO each is linked to by the mart's rules;
``sensor_blips`` the runs outside the limits that are too short to count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from traceloom_pipelines.demo.clock import HOUR, MINUTE, iso_s
from traceloom_pipelines.demo.drops import EntityDrops, dumps
from traceloom_pipelines.demo.logistics import Shipment
from traceloom_pipelines.demo.masters import TenantWorld
from traceloom_pipelines.demo.work_orders import WorkOrder, mes_payloads
from traceloom_pipelines.sources.iot.contract import SENSOR_UNITS

ROW_SHARE = 0.02  # sensor readings: at most this share of the tenant's other rows (above the floor)
BACKGROUND_READINGS = 60  # readings of one in-range vibration series (1 per minute)
# (sensor type, location kind) → (unit, max value, min duration s): sensor_thresholds.csv
LIMITS = {
    ("temperature", "machine"): ("degC", 45.0, 300),
    ("humidity", "storage_area"): ("%RH", 65.0, 900),
    ("temperature", "container"): ("degC", 25.0, 900),
}
SEVERITY = {
    ("temperature", "machine"): "medium",
    ("humidity", "storage_area"): "medium",
    ("temperature", "container"): "high",
}


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class Series:
    """One sensor's readings: ``values`` every ``step`` ms from ``start`` (epoch ms, UTC); at the
    indexes of ``bad`` the reading is sent with that value instead and quality ``bad``."""

    sensor_id: str
    device_id: str
    sensor_type: str
    location_kind: str
    location_id: str
    start: int
    step: int
    values: list[float]
    bad: dict[int, float] = field(default_factory=dict)  # index → value sent with quality bad

    def records(self) -> list[dict]:
        unit = SENSOR_UNITS[self.sensor_type]
        out = []
        for i, value in enumerate(self.values):
            bad = i in self.bad
            out.append(
                {
                    "deviceId": self.device_id,
                    "sensorId": self.sensor_id,
                    "type": self.sensor_type,
                    "unit": unit,
                    "value": self.bad[i] if bad else value,
                    "timestamp": iso_s(self.start + i * self.step),
                    "quality": "bad" if bad else "good",
                    "metadata": {
                        "locationKind": self.location_kind,
                        "locationId": self.location_id,
                    },
                }
            )
        return out

    def runs(self) -> list[tuple[int, int, float]]:
        """(first index, last index, peak) of each run above the limit (bad readings skipped)."""
        limit = LIMITS[(self.sensor_type, self.location_kind)][1]
        runs, current = [], None
        for i, value in enumerate(self.values):
            if i in self.bad:
                continue
            if value > limit:
                current = (
                    [i, i, value] if current is None else [current[0], i, max(current[2], value)]
                )
            elif current is not None:
                runs.append(tuple(current))
                current = None
        if current is not None:
            runs.append(tuple(current))
        return runs


def _pattern(rng, base: float, spread: float, high: float, shape: str) -> list[float]:
    """Values by ``shape``: ``i`` in range, ``H`` above the limit (around ``high``)."""
    return [
        round(high + rng.uniform(0, 4) if c == "H" else base + rng.uniform(-spread, spread), 1)
        for c in shape
    ]


def _running_work_order(
    jobs: list[tuple[WorkOrder, str, int, int | None]], machine_id: str, at: int
) -> WorkOrder | None:
    """The mart's rule: the ERP work order whose MES job ran on the machine at ``at`` (start ≤ at
    < end, or no end), of several the latest started."""
    running = [
        (start, wo.wo_id, wo)
        for wo, machine, start, end in jobs
        if machine == machine_id and start <= at and (end is None or end > at)
    ]
    return max(running, key=lambda r: (r[0], r[1]))[2] if running else None


def _jobs(work_orders: list[WorkOrder]) -> list[tuple[WorkOrder, str, int, int | None]]:
    """(work order, machine, MES start, MES end) of every ERP work order's latest MES record."""
    out = []
    for wo in work_orders:
        records = mes_payloads(wo)
        if not wo.erp or not records:
            continue
        latest = max(records, key=lambda r: r[0])[1]
        if latest["MachineId"] and latest["StartTime"]:
            end = _ms(latest["EndTime"]) if latest["EndTime"] else None
            out.append((wo, latest["MachineId"], _ms(latest["StartTime"]), end))
    return out


def _machine_series(world: TenantWorld, rng, work_orders: list[WorkOrder]) -> tuple:
    """The machine temperature series inside a completed work order, and the work order."""
    jobs = _jobs(work_orders)
    for wo, machine, start, end in sorted(jobs, key=lambda j: j[0].wo_id):
        if end is None or end - start < 2 * HOUR or end > world.as_of:
            continue
        first = start + 10 * MINUTE - start % MINUTE
        at = first + 2 * MINUTE  # the excursion's first reading
        if _running_work_order(jobs, machine, at) is not wo:
            continue
        values = _pattern(rng, 30.0, 3.0, 48.0, "iiHHHHHHHiiHHiii")
        series = Series(
            f"{machine}-TEMP",
            f"GW-{machine}",
            "temperature",
            "machine",
            machine,
            first,
            MINUTE,
            values,
            bad={14: 85.0},
        )
        return series, wo
    return None, None


def _container_series(world: TenantWorld, rng, shipments: list[Shipment]) -> tuple:
    """The cold-chain logger series of a container at sea (in transit at ``as_of`` if any)."""
    sea = [s for s in shipments if not s.air and "DEPARTED" in s.actual]

    def fits(s: Shipment, at: int) -> bool:
        first = min((r.event_at for r in s.reports if r.reported_at <= world.as_of), default=None)
        return first is not None and first <= at and at + 2 * HOUR < world.as_of

    candidates = sorted(
        sea, key=lambda s: (s.actual.get("DELIVERED", 0) <= world.as_of, s.dcsa, s.po.po_id)
    )
    for s in candidates:
        first = s.actual["DEPARTED"] + 6 * HOUR
        if fits(s, first):
            values = _pattern(rng, 12.0, 3.0, 28.0, "iiHHHHHiiHHi")
            series = Series(
                f"{s.container}-TEMP",
                f"LOG-{s.container}",
                "temperature",
                "container",
                s.container,
                first,
                5 * MINUTE,
                values,
            )
            return series, s
    return None, None


def sensor_reading_drops(
    world: TenantWorld,
    work_orders: list[WorkOrder],
    shipments: list[Shipment],
    other_rows: int,
) -> tuple[EntityDrops, list[dict], list[dict], list[dict]]:
    """``iot/sensor_readings`` of one tenant (module docstring).

    Args:
        other_rows: records of the tenant's other entities (sizes the in-range background).

    Returns:
        ``(drops, defect tags, excursions, blips)``: tags in :mod:`defects`' shape (quarantine
        and duplicate), answer-key entries ``sensor_excursions`` (tenant_id, sensor_id,
        sensor_type, location_kind, location_id, started_at / ended_at ISO-8601 UTC,
        duration_seconds, peak_value, severity, work_order_id, shipment_id, po_id) and
        ``sensor_blips`` (tenant_id, sensor_id, sensor_type, location_kind, started_at,
        duration_seconds).
    """
    rng = world.rng("sensors")
    series: list[Series] = []
    links: dict[str, tuple[str | None, str | None, str | None]] = {}
    machine, wo = _machine_series(world, rng, work_orders)
    if machine is not None:
        series.append(machine)
        links[machine.sensor_id] = (wo.wo_id, None, wo.customer_order_id)
    warehouse = f"Plant{world.factories[0].plant_no}-WH"
    store_start = world.as_of - 4 * 86_400_000 + 9 * HOUR
    series.append(
        Series(
            f"{warehouse}-RH",
            f"GW-{warehouse}",
            "humidity",
            "storage_area",
            warehouse,
            store_start,
            5 * MINUTE,
            _pattern(rng, 50.0, 5.0, 70.0, "iHHHHHiii"),
        )
    )
    links[series[-1].sensor_id] = (None, None, None)
    container, shipment = _container_series(world, rng, shipments)
    if container is not None:
        series.append(container)
        links[container.sensor_id] = (None, shipment.booking, shipment.po.po_id)
    fixed = sum(len(s.values) for s in series) + 2 + 4
    background = max(0, int(other_rows * ROW_SHARE) - fixed) // BACKGROUND_READINGS
    for m in world.machines[:background]:
        start = world.window_start + rng.randrange(25 * 24) * HOUR
        values = [round(rng.uniform(1.5, 3.5), 2) for _ in range(BACKGROUND_READINGS)]
        series.append(
            Series(
                f"{m.machine_id}-VIB",
                f"GW-{m.machine_id}",
                "vibration",
                "machine",
                m.machine_id,
                start,
                MINUTE,
                values,
            )
        )
    records = [r for s in series for r in s.records()]
    if container is not None:
        for k in (0, 1):
            records.append(
                {
                    "deviceId": container.device_id,
                    "sensorId": f"{container.location_id}-GPS",
                    "type": "gps",
                    "unit": "deg",
                    "timestamp": iso_s(container.start + k * HOUR),
                    "quality": "good",
                    "metadata": {
                        "locationKind": "container",
                        "locationId": container.location_id,
                        "latitude": round(rng.uniform(5.0, 30.0), 5),
                        "longitude": round(rng.uniform(100.0, 140.0), 5),
                    },
                }
            )
    items: list = [dumps(r) for r in records]
    rng.shuffle(items)  # loggers and gateways deliver out of order
    tags = _defects(world, rng, records, items)
    ent = EntityDrops(world.name, "iot", "sensor_readings")
    ent.add("sensor_readings_0001.jsonl", "jsonl", items)
    excursions, blips = [], []
    for s in series:
        if (s.sensor_type, s.location_kind) not in LIMITS:
            continue
        minimum = LIMITS[(s.sensor_type, s.location_kind)][2]
        for first, last, peak in s.runs():
            started, ended = s.start + first * s.step, s.start + last * s.step
            seconds = (ended - started) // 1000
            entry = {
                "tenant_id": world.name,
                "sensor_id": s.sensor_id,
                "sensor_type": s.sensor_type,
                "location_kind": s.location_kind,
                "started_at": iso_s(started),
                "duration_seconds": seconds,
            }
            if seconds < minimum:
                blips.append(entry)
                continue
            work_order_id, shipment_id, po_id = links[s.sensor_id]
            excursions.append(
                {
                    **entry,
                    "ended_at": iso_s(ended),
                    "location_id": s.location_id,
                    "peak_value": peak,
                    "severity": SEVERITY[(s.sensor_type, s.location_kind)],
                    "work_order_id": work_order_id,
                    "shipment_id": shipment_id,
                    "po_id": po_id,
                }
            )
    return ent, tags, excursions, blips


def _defects(world: TenantWorld, rng, records: list[dict], items: list) -> list[dict]:
    """Three quarantined readings and one exact redelivery, inserted into ``items``."""
    tags = []
    source = next(r for r in records if r["type"] == "humidity")
    for defect, checks, change in (
        ("non_numeric_value", ["value:is_number"], {"value": "n/a"}),
        ("unknown_sensor_type", ["type:isin"], {"type": "noise", "unit": "dB"}),
        ("wrong_unit", ["unit:unit_of_type"], {"type": "temperature", "unit": "degF"}),
    ):
        tag = {
            "kind": "quarantine",
            "tenant_id": world.name,
            "system": "iot",
            "entity": "sensor_readings",
            "failed_checks": checks,
            "defect": defect,
        }
        items.insert(rng.randint(0, len(items)), (dumps({**source, **change}), tag))
        tags.append(tag)
    position = rng.randrange(len(items) // 2)
    while isinstance(items[position], tuple):
        position += 1
    text = items[position]
    original = {"kind": "original", "dup_source": True}
    items[position] = (text, original)
    tag = {
        "kind": "duplicate",
        "tenant_id": world.name,
        "system": "iot",
        "entity": "sensor_readings",
        "of": original,
    }
    items.insert(rng.randint(position + 1, len(items)), (text, tag))
    tags.append(tag)
    return tags
