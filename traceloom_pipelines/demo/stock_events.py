"""The WMS change-data-capture stream of one tenant (003 §6.3, ``material.stock_updated``).

Consumption is consistent with the shop floor by construction: every producing work order
consumes, per UTC day it produces on, ``units produced that day × quantity_required /
quantity_ordered`` of each material of its (latest) ERP bill of materials, posted as one
``consumption`` event per work order, material and day. Receipts (stock running low) and
cycle-count adjustments are interleaved; they are not consumption.

Then inventory variances are injected on a few material-days (WMS consumption ≠ MES-implied
consumption beyond tolerance, low and high risk), plus a few differences inside the tolerance
that reconciliation must not report. The tolerance and risk rule mirror
``dbt_project/models/marts/inventory/rpt_inventory_reconciliation``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from traceloom_pipelines.demo.clock import DAY, MINUTE, SECOND, day_str, iso_ms
from traceloom_pipelines.demo.drops import EntityDrops, dumps
from traceloom_pipelines.demo.masters import TenantWorld
from traceloom_pipelines.demo.work_orders import PRODUCING_FATES, WorkOrder, erp_payloads

# The reconciliation rule (dbt vars of the same names): a material-day is a discrepancy when
# |WMS - MES| > max(TOLERANCE_MIN, TOLERANCE_PCT x MES); low risk when |WMS - MES| <=
# LOW_RISK_PCT x MES, else high risk.
TOLERANCE_MIN = 1.0
TOLERANCE_PCT = 0.02
LOW_RISK_PCT = 0.10
VARIANCE_RATE = 0.01  # per classification (low, high), of the material-days with consumption
WITHIN_TOLERANCE_RATE = 0.01
ADJUSTMENT_RATE = 0.03  # cycle-count adjustments per consumption event


@dataclass
class _Posting:
    ts: int
    material_id: str
    quantity: float  # consumed quantity (positive)
    reason: str = "consumption"


def _number(value: float) -> float | int:
    value = round(value, 3)
    return int(value) if float(value).is_integer() else value


def _tolerance(mes: float) -> float:
    return max(TOLERANCE_MIN, TOLERANCE_PCT * mes)


def mes_implied(wos: list[WorkOrder], as_of: int) -> list[tuple[int, str, str, float]]:
    """``(ts, work order, material, quantity)``: per producing work order, UTC day and BOM
    material, the consumption its production counts imply (ts = its last count of the day)."""
    out = []
    for wo in wos:
        if wo.machine is None or wo.fate not in PRODUCING_FATES or not wo.day_states:
            continue
        payloads = erp_payloads(wo)
        if not payloads:
            continue
        latest = payloads[-1][1]["work_order"]
        ordered = latest["quantity_ordered"]
        previous = 0
        for ts, cumulative, _scrap in wo.day_states:
            units, previous = cumulative - previous, cumulative
            if units <= 0 or ts >= as_of:
                continue
            for line in latest["bill_of_materials"]:
                quantity = units * line["quantity_required"] / ordered
                out.append((ts, wo.wo_id, line["material_id"], quantity))
    return out


def stock_event_drops(world: TenantWorld, wos: list[WorkOrder]) -> tuple[EntityDrops, list[dict]]:
    """``wms/stock_events`` (JSONL per UTC day) and the answer-key entries of the injected
    inventory variances and within-tolerance differences."""
    rng = world.rng("stock_events")
    implied = mes_implied(wos, world.as_of)
    mes: dict[tuple[str, int], float] = {}
    postings: dict[tuple[str, int], list[_Posting]] = {}
    for ts, _wo_id, material_id, quantity in implied:
        day = ts // DAY
        mes[(material_id, day)] = mes.get((material_id, day), 0.0) + quantity
        end = min((day + 1) * DAY, world.as_of) - 1
        posted = min(ts + rng.randint(1, 120) * SECOND, end)
        if round(quantity, 3) > 0:
            postings.setdefault((material_id, day), []).append(
                _Posting(posted, material_id, round(quantity, 3))
            )
    key = _inject(world, rng, mes, postings)
    events = _stock_chain(world, rng, [p for ps in postings.values() for p in ps])
    ent = EntityDrops(world.name, "wms", "stock_events")
    by_day: dict[int, list[str]] = {}
    for event in events:
        by_day.setdefault(event[0] // DAY, []).append(event[1])
    for day in sorted(by_day):
        ent.add(f"stock_events_{day_str(day)}.jsonl", "jsonl", by_day[day])
    for entry in key:
        wms = sum(p.quantity for p in postings.get((entry["material_id"], entry["_day"]), []))
        entry["wms_consumption"] = round(wms, 3)
        del entry["_day"]
    return ent, key


def _inject(
    world: TenantWorld,
    rng: random.Random,
    mes: dict[tuple[str, int], float],
    postings: dict[tuple[str, int], list[_Posting]],
) -> list[dict]:
    """Change WMS consumption of a few material-days; returns their answer-key entries."""
    candidates = sorted(k for k, v in mes.items() if v > 0 and k in postings)
    n = max(1, round(len(candidates) * VARIANCE_RATE))
    n_within = max(1, round(len(candidates) * WITHIN_TOLERANCE_RATE))
    rng.shuffle(candidates)
    taken: set[tuple[str, int]] = set()
    key: list[dict] = []

    def pick(minimum: float) -> tuple[str, int] | None:
        """The next untaken candidate (random order) with MES >= minimum, else any."""
        free = (k for k in candidates if k not in taken)
        choice = next((k for k in free if mes[k] >= minimum), None)
        if choice is None:
            choice = next((k for k in candidates if k not in taken), None)
        if choice is not None:
            taken.add(choice)
        return choice

    def record(k: tuple[str, int], classification: str, kind: str) -> None:
        key.append(
            {
                "tenant_id": world.name,
                "material_id": k[0],
                "day": day_str(k[1]),
                "_day": k[1],
                "classification": classification,
                "variance_type": kind,
                "mes_consumption": round(mes.get(k, 0.0), 3),
            }
        )

    for i in range(n):  # low risk: beyond tolerance, within LOW_RISK_PCT of MES
        k = pick(20.0)
        if k is None:
            break
        sign = 1 if i % 2 == 0 else -1
        delta = sign * max(1.5, mes[k] * rng.uniform(0.04, 0.08))
        _shift(postings[k], delta)
        record(k, "low", "over_consumption" if sign > 0 else "under_consumption")
    kinds = ("consumption_not_posted", "over_consumption", "consumption_without_production")
    for i in range(n):  # high risk: beyond LOW_RISK_PCT of MES
        kind = kinds[i % len(kinds)]
        if kind == "consumption_without_production":
            k = _phantom_day(world, rng, mes, taken)
            if k is not None:
                taken.add(k)
                ts = min(k[1] * DAY + rng.randint(6 * 60, 20 * 60) * MINUTE, world.as_of - 1)
                quantity = float(rng.randint(5, 60))
                postings.setdefault(k, []).append(_Posting(ts, k[0], quantity))
                record(k, "high", kind)
                continue
            kind = "over_consumption"
        k = pick(10.0)
        if k is None:
            break
        if kind == "consumption_not_posted":
            postings.pop(k)
        else:
            _shift(postings[k], mes[k] * rng.uniform(0.25, 0.6))
        record(k, "high", kind)
    for i in range(n_within):  # within tolerance: must not be reported
        k = pick(10.0)
        if k is None:
            break
        sign = 1 if i % 2 == 0 else -1
        _shift(postings[k], sign * _tolerance(mes[k]) * rng.uniform(0.3, 0.6))
        record(k, "within_tolerance", "rounding_difference")
    return key


def _shift(postings: list[_Posting], delta: float) -> None:
    """Add ``delta`` to the consumption posted: on the largest posting when positive, taken
    from the largest postings first when negative (a posting never goes below zero)."""
    ordered = sorted(postings, key=lambda p: (-p.quantity, p.ts))
    if delta >= 0:
        ordered[0].quantity = round(ordered[0].quantity + delta, 3)
        return
    remaining = -delta
    for posting in ordered:
        cut = min(remaining, posting.quantity - 0.001)
        posting.quantity = round(posting.quantity - cut, 3)
        remaining -= cut
        if remaining <= 1e-9:
            break


def _phantom_day(
    world: TenantWorld, rng: random.Random, mes: dict, taken: set
) -> tuple[str, int] | None:
    """A material-day with production on that day but no MES-implied use of the material."""
    days = sorted({day for _, day in mes})
    materials = [m.material_id for m in world.materials if m.is_active]
    options = [(m, d) for d in days for m in materials if (m, d) not in mes and (m, d) not in taken]
    return options[rng.randrange(len(options))] if options else None


def _stock_chain(
    world: TenantWorld, rng: random.Random, postings: list[_Posting]
) -> list[tuple[int, str]]:
    """CDC events ``(ts, JSON text)`` in time order: a running on-hand balance per material,
    with a receipt before a consumption that would take it below half the safety stock and a
    few cycle-count adjustments."""
    safety = {m.material_id: m.safety_stock for m in world.materials}
    by_material: dict[str, list[_Posting]] = {}
    for posting in postings:
        if posting.quantity > 0:
            by_material.setdefault(posting.material_id, []).append(posting)
    raw: list[tuple[int, str, str, float, float]] = []  # ts, material, reason, old, new
    for material_id in sorted(by_material):
        floor = safety.get(material_id, 100) / 2
        balance = round(safety.get(material_id, 100) * rng.uniform(1.5, 3.0), 3)
        last = world.window_start
        for posting in sorted(by_material[material_id], key=lambda p: (p.ts, p.quantity)):
            if balance - posting.quantity < floor:
                lot = round(max(2 * floor, 3 * posting.quantity), 0)
                ts = min(posting.ts, max(last + SECOND, posting.ts - rng.randint(5, 90) * MINUTE))
                raw.append((ts, material_id, "receipt", balance, round(balance + lot, 3)))
                balance = round(balance + lot, 3)
            new = round(balance - posting.quantity, 3)
            raw.append((posting.ts, material_id, "consumption", balance, new))
            balance, last = new, posting.ts
            if rng.random() < ADJUSTMENT_RATE:
                ts = last = min(posting.ts + SECOND, world.as_of - 1)
                change = float(rng.choice((-2, -1, 1, 2)))
                new = round(max(0.0, balance + change), 3)
                raw.append((ts, material_id, "adjustment", balance, new))
                balance = new
    raw.sort(key=lambda r: (r[0], r[1]))
    base = 78_000_000 + world.index * 5_000_000
    return [
        (
            ts,
            dumps(
                {
                    "event_type": "material.stock_updated",
                    "timestamp": iso_ms(ts),
                    "material_id": material_id,
                    "field_changed": "on_hand_quantity",
                    "old_value": _number(old),
                    "new_value": _number(new),
                    "change_reason": reason,
                    "transaction_id": f"INV-TXN-{base + i}",
                }
            ),
        )
        for i, (ts, material_id, reason, old, new) in enumerate(raw, start=1)
    ]
