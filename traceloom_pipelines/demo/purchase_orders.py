"""ERP purchase orders with revisions (000 §2.1) and factory production milestones (000 §2.2).

Every PO has a hidden production truth (planned and actual stage times); its ERP revisions and the
factories' milestone uploads are both views of that truth, so they agree with each other.
Delivery: an initial export (JSON arrays) on the first day of the window, then daily change feeds
(JSONL) and single webhook payloads; some POs get their revisions delivered out of order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from traceloom_pipelines.demo.clock import DAY, HOUR, MINUTE, date_of, iso_s
from traceloom_pipelines.demo.drops import EntityDrops, dumps
from traceloom_pipelines.demo.masters import Factory, TenantWorld

STAGES = ("yarn_received", "knitting", "dyeing", "qa", "packing")
# planned duration of each stage (days) and the line a stage runs on
_STAGE_DAYS = {"yarn_received": 0.25, "knitting": 6, "dyeing": 3, "qa": 1, "packing": 2}
_STAGE_LINE = {
    "yarn_received": "WH-RCV",
    "knitting": "KNIT-L",
    "dyeing": "DYE-L",
    "qa": "QA-",
    "packing": "PACK-L",
}
EXPORT_CHUNK = 1000
REVISED_SHARE = 0.2
OUT_OF_ORDER_RATE = 0.01
MILESTONE_COLUMNS = (
    "poId",
    "factory",
    "stage",
    "workOrderId",
    "machineLine",
    "plannedStart",
    "plannedEnd",
    "actualStart",
    "actualEnd",
    "qaResult",
    "updatedAt",
)


@dataclass
class PurchaseOrder:
    """One PO: its revisions (payload dicts, oldest first) and its production truth."""

    po_id: str
    factory: Factory
    payloads: list[dict] = field(default_factory=list)
    times: list[int] = field(default_factory=list)  # updatedAt of each revision, epoch ms
    # (filename, format) each revision is delivered in
    delivery: list[tuple[str, str]] = field(default_factory=list)
    stages: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    qa_fail: bool = False
    out_of_order: bool = False

    @property
    def latest(self) -> dict:
        return self.payloads[-1]


def build_purchase_orders(world: TenantWorld) -> list[PurchaseOrder]:
    """All POs of the tenant with their revisions and delivery files (see module docstring)."""
    rng = world.rng("purchase_orders")
    n = world.sizes["purchase_orders"]
    n_ooo = max(1, round(n * OUT_OF_ORDER_RATE))
    ws, as_of = world.window_start, world.as_of
    pos = []
    for i in range(n):
        in_export = i < n_ooo + 2 or rng.random() < 0.7
        created = (
            ws + rng.randint(5 * MINUTE, 10 * HOUR)
            if in_export
            else rng.randint(ws + DAY, as_of - 3 * HOUR)
        )
        pos.append(_new_po(world, rng, i, created))
    revised = rng.sample(range(n_ooo, n), min(n - n_ooo, max(0, round(n * REVISED_SHARE) - n_ooo)))
    for i in range(n_ooo):
        _revise_out_of_order(rng, pos[i], ws)
    for i in sorted(revised):
        _revise(rng, pos[i], ws, as_of, rng.choice((1, 1, 1, 2)))
    for po in pos:
        if not po.delivery:
            po.delivery = _deliveries(rng, po, ws)
    return pos


def _new_po(world: TenantWorld, rng: random.Random, i: int, created: int) -> PurchaseOrder:
    profile = world.profile
    supplier = world.suppliers[rng.randrange(len(world.suppliers))]
    factories = world.supplier_factories[supplier]
    factory = factories[rng.randrange(len(factories))]
    customer = profile.customers[rng.randrange(len(profile.customers))]
    code, name, _description, (plo, phi) = profile.products[rng.randrange(len(profile.products))]
    prefix = (
        "".join(word[0] for word in customer.replace("&", "").split())[:3].upper().ljust(3, "X")
    )
    po_id = f"PO-{date_of(created)[:4]}-{100 + world.index * 100_000 + i:06d}"
    combos = [(c, s) for c in profile.colors for s in profile.sizes]
    n_lines = rng.choices((2, 3, 4, 5, 6), weights=(15, 25, 30, 20, 10))[0]
    lines = []
    step = profile.lot_step
    for k, (color, size) in enumerate(rng.sample(combos, n_lines), start=1):
        lo, hi = (10, 200) if step == 12 else (5, 80)
        lines.append(
            {
                "lineItemId": f"{po_id}-{k:02d}",
                "sku": f"{prefix}-{code}-{color.replace(' ', '')[:3].upper()}-{size[:3].upper()}",
                "color": color,
                "size": size,
                "lineQuantity": rng.randint(lo, hi) * step,
            }
        )
    ship_start_day = world.as_of // DAY + rng.randint(-45, 75)
    ship_end_day = ship_start_day + 14
    transship = profile.transshipment[rng.randrange(len(profile.transshipment))]
    destination = profile.destinations[rng.randrange(len(profile.destinations))]
    ports = (
        [factory.port, transship, destination]
        if rng.random() < 0.6
        else [factory.port, destination]
    )
    payload = {
        "poId": po_id,
        "revision": 1,
        "poStatus": "open",
        "updatedAt": iso_s(created),
        "customer": customer,
        "supplier": supplier,
        "factory": factory.code,
        "product": name,
        "quantity": sum(line["lineQuantity"] for line in lines),
        "unit": profile.unit,
        "price": round(rng.uniform(plo, phi), 2),
        "currency": "USD",
        "shipWindowStart": date_of(ship_start_day * DAY),
        "shipWindowEnd": date_of(ship_end_day * DAY),
        "requestedDeliveryDate": date_of((ship_end_day + rng.randint(18, 35)) * DAY),
        "routeTemplate": {"origin": factory.port, "ports": ports, "destination": destination},
        "lineItems": lines,
    }
    po = PurchaseOrder(po_id, factory)
    po.stages = _stage_truth(rng, ship_start_day * DAY)
    po.qa_fail = rng.random() < 0.04
    if _shipped_by(po, created):
        payload["poStatus"] = "closed"
    po.payloads.append(payload)
    po.times.append(created)
    return po


def _stage_truth(rng: random.Random, ship_start: int) -> list[tuple[str, int, int, int, int]]:
    """(stage, planned start, planned end, actual start, actual end) for the five stages."""
    planned_end = ship_start - DAY + 18 * HOUR
    planned = []
    for stage in reversed(STAGES):
        start = planned_end - int(_STAGE_DAYS[stage] * DAY)
        planned.append((stage, start, planned_end))
        planned_end = start - 12 * HOUR
    planned.reverse()
    delay = 0
    out = []
    for stage, start, end in planned:
        delay = max(-12 * HOUR, delay + rng.randint(-6 * HOUR, 30 * HOUR))
        a_start = start + delay + rng.randint(0, 59) * MINUTE
        a_end = a_start + int((end - start) * rng.uniform(0.8, 1.3))
        out.append((stage, start, end, a_start, a_end))
    return out


def _shipped_by(po: PurchaseOrder, moment: int) -> bool:
    return po.stages[-1][4] + DAY <= moment


def _next_payload(po: PurchaseOrder, moment: int) -> dict:
    payload = {**po.latest, "lineItems": [dict(line) for line in po.latest["lineItems"]]}
    payload["revision"] = po.latest["revision"] + 1
    payload["updatedAt"] = iso_s(moment)
    return payload


def _apply_change(rng: random.Random, po: PurchaseOrder, payload: dict, change: str) -> None:
    if change == "quantity" and payload["poStatus"] == "open":
        step = 12 if payload["unit"] == "pcs" else 10
        line = payload["lineItems"][rng.randrange(len(payload["lineItems"]))]
        new = max(step, round(line["lineQuantity"] * rng.uniform(0.7, 1.3) / step) * step)
        line["lineQuantity"] = new if new != line["lineQuantity"] else new + step
        payload["quantity"] = sum(item["lineQuantity"] for item in payload["lineItems"])
    elif change == "delivery":
        shifted = _day_number(payload["requestedDeliveryDate"]) + rng.choice((-7, 7, 14))
        payload["requestedDeliveryDate"] = date_of(shifted * DAY)
    elif change in ("cancel", "close") and payload["poStatus"] == "open":
        payload["poStatus"] = "cancelled" if change == "cancel" else "closed"
    else:
        payload["price"] = round(payload["price"] * rng.choice((0.97, 0.98, 1.02, 1.03)), 2)


def _day_number(day: str) -> int:
    from datetime import date

    return (date.fromisoformat(day) - date(1970, 1, 1)).days


def _revise(rng: random.Random, po: PurchaseOrder, ws: int, as_of: int, k: int) -> None:
    # never on the export day: that day's change feed sorts before the export files
    lo, hi = max(po.times[-1] + HOUR, (ws // DAY + 1) * DAY), as_of - 2 * HOUR
    if hi - lo < k * HOUR:
        return
    for j, moment in enumerate(sorted(rng.sample(range(lo, hi, MINUTE), k))):
        payload = _next_payload(po, moment)
        last = j == k - 1
        change = rng.choices(("quantity", "delivery", "price", "other"), weights=(45, 25, 15, 15))[
            0
        ]
        if last and change == "other":
            change = "close" if _shipped_by(po, moment) else rng.choice(("cancel", "quantity"))
        _apply_change(rng, po, payload, change)
        po.payloads.append(payload)
        po.times.append(moment)


def _revise_out_of_order(rng: random.Random, po: PurchaseOrder, ws: int) -> None:
    """Two revisions; the later one arrives first, the earlier one in a later change feed."""
    po.out_of_order = True
    t2 = (ws // DAY + 1) * DAY + rng.randint(0, 7 * DAY)
    t3 = t2 + rng.randint(DAY, 6 * DAY)
    for moment, change in ((t2, rng.choice(("delivery", "price"))), (t3, "quantity")):
        payload = _next_payload(po, moment)
        _apply_change(rng, po, payload, change)
        po.payloads.append(payload)
        po.times.append(moment)
    late_day = date_of(t3 + rng.randint(1, 10) * DAY)
    po.delivery = [
        (_export_name(ws, 0), "array"),
        (f"po_{late_day}_changes.jsonl", "jsonl"),
        _feed_or_webhook(rng, po, 2, force_webhook=rng.random() < 0.5),
    ]


def _export_name(ws: int, part: int) -> str:
    return f"po_{date_of(ws)}_export_part{part + 1:02d}.json"


def _feed_or_webhook(
    rng: random.Random, po: PurchaseOrder, j: int, force_webhook: bool = False
) -> tuple[str, str]:
    day = date_of(po.times[j])
    next_same_day = j + 1 < len(po.times) and date_of(po.times[j + 1]) == day
    if (force_webhook or rng.random() < 0.15) and not next_same_day:
        return f"po_{day}_webhook_{po.po_id}_r{po.payloads[j]['revision']}.json", "single"
    return f"po_{day}_changes.jsonl", "jsonl"


def _deliveries(rng: random.Random, po: PurchaseOrder, ws: int) -> list[tuple[str, str]]:
    out = []
    for j, moment in enumerate(po.times):
        if j == 0 and moment < ws + DAY:
            out.append((_export_name(ws, 0), "array"))  # part number fixed up by po_drops
        else:
            out.append(_feed_or_webhook(rng, po, j))
    return out


def po_drops(world: TenantWorld, pos: list[PurchaseOrder]) -> EntityDrops:
    """``erp/purchase_orders`` drops; every clean record is tagged ``{"kind": "po", …}``."""
    ent = EntityDrops(world.name, "erp", "purchase_orders")
    files: dict[tuple[str, str], list[tuple[int, str, tuple]]] = {}
    export_rank = 0
    for po in pos:
        for j, (name, fmt) in enumerate(po.delivery):
            if fmt == "array":
                name = _export_name(world.window_start, export_rank // EXPORT_CHUNK)
                export_rank += 1
            tag = {"kind": "po", "po_id": po.po_id, "revision": po.payloads[j]["revision"]}
            files.setdefault((name, fmt), []).append(
                (po.times[j], po.po_id, (dumps(po.payloads[j]), tag))
            )
    for (name, fmt), records in sorted(files.items()):
        if fmt != "array":
            records.sort(key=lambda r: (r[0], r[1]))
        ent.add(name, fmt, [item for _, _, item in records])
    ent.sort()
    return ent


def milestone_drops(
    world: TenantWorld, pos: list[PurchaseOrder], work_order_by_po: dict[str, str]
) -> EntityDrops:
    """``factory/production_milestones``: one CSV upload per factory, a few hours before as_of."""
    rng = world.rng("milestones")
    ent = EntityDrops(world.name, "factory", "production_milestones")
    uploads = {f.code: world.as_of - rng.randint(HOUR, 5 * HOUR) for f in world.factories}
    rows: dict[str, list[dict]] = {}
    for po in sorted(pos, key=lambda p: p.po_id):
        upload = uploads[po.factory.code]
        if po.times[0] >= upload:
            continue  # the PO did not exist yet when the factory uploaded
        cutoff = upload
        if po.latest["poStatus"] == "cancelled":
            cutoff = min(cutoff, po.times[-1])
        for stage, p_start, p_end, a_start, a_end in po.stages:
            started, ended = a_start < cutoff, a_end < cutoff
            seen = [t for t, ok in ((a_start, started), (a_end, ended)) if ok]
            line = _STAGE_LINE[stage]
            if not line.endswith("RCV"):
                line = f"{line}{1 + rng.randrange(4)}"
            rows.setdefault(po.factory.code, []).append(
                {
                    "poId": po.po_id,
                    "factory": po.factory.code,
                    "stage": stage,
                    "workOrderId": work_order_by_po.get(po.po_id, ""),
                    "machineLine": line,
                    "plannedStart": iso_s(p_start),
                    "plannedEnd": iso_s(p_end),
                    "actualStart": iso_s(a_start) if started else "",
                    "actualEnd": iso_s(a_end) if ended else "",
                    "qaResult": ("fail" if po.qa_fail else "pass")
                    if stage == "qa" and ended
                    else "",
                    "updatedAt": iso_s(max(seen) if seen else po.times[0]),
                }
            )
    for code in sorted(rows):
        name = f"milestones_{code}_{date_of(uploads[code])}.csv"
        ent.add(name, "csv", rows[code], columns=MILESTONE_COLUMNS)
    ent.sort()
    return ent
