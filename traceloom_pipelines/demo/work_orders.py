"""Work orders as ERP and MES see them (003 §3.2.1, §4.3): definitions, fates and timelines, the
ERP ``work_order.*`` events and the MES job records.

A clean work order ends consistent between the systems (latest ERP event vs latest MES record):
cancelled ones never reach MES; released ↔ Released/InProgress/OnHold; completed ↔ Completed.
Reconciliation discrepancies are *extra* work orders with exactly one discrepancy each, except
description drift (:func:`drift_descriptions`): a few clean work orders whose MES PartDescription
differs from the ERP product_name, really (renamed, recapitalised: a description_mismatch) or
only in whitespace (padding, doubled spaces, tabs, no-break spaces: not a discrepancy).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from traceloom_pipelines.demo.clock import DAY, HOUR, MINUTE, iso_ms, iso_s
from traceloom_pipelines.demo.masters import Machine, Material, TenantWorld

PRODUCING_FATES = ("done", "active", "hold")
DISCREPANCY_TYPES = ("missing_in_mes", "missing_in_erp", "status_conflict", "quantity_mismatch")
CANCELLED_SHARE = 0.05
DISCREPANCY_RATE = 0.01
UNITS_PER_EVENT = 1.1  # mean units_produced of one production-count message
PRIORITIES = ("low", "normal", "medium", "high", "urgent")


@dataclass
class WorkOrder:
    """One work order; ``fate`` is done/active/hold/queued/cancelled or a discrepancy type."""

    wo_id: str
    product_id: str
    product_name: str
    variant: str
    uom: str
    priority: str
    customer_order_id: str
    instructions: str | None
    bom: list[tuple[Material, float]]
    fate: str
    quantity: int = 0
    initial_quantity: int | None = None  # quantity of the created event when revised later
    machine: Machine | None = None
    line_preference: str | None = None
    units: int = 0  # units produced in the window
    start: int = 0  # epoch ms production starts on the machine
    last: int = 0  # last production-count message
    produced: int = 0
    scrapped: int = 0
    day_states: list[tuple[int, int, int]] = field(default_factory=list)  # (ts, cum, scrap)
    downtimes: list[tuple[int, int, tuple[str, str, str]]] = field(default_factory=list)
    erp: list[tuple[int, str, str, dict]] = field(default_factory=list)
    mes: list[tuple[int, str, int, int, int | None, int | None]] = field(default_factory=list)
    variant_conflict: str = ""  # status_conflict flavour: "completed" or "cancelled"
    # MES PartDescription when it differs from product_name (description drift); None: the same
    mes_description: str | None = None


def define_work_orders(
    world: TenantWorld, po_ids: list[str]
) -> tuple[list[WorkOrder], list[WorkOrder]]:
    """Clean work orders (with fates and machines) and the injected discrepant ones."""
    rng = world.rng("work_orders")
    n = world.sizes["work_orders"]
    base = 450_000 + world.index * 200_000
    clean = [_new(world, rng, f"WO-ERP-{base + i}", po_ids) for i in range(n)]
    n_cancel = max(1, round(n * CANCELLED_SHARE))
    order = list(range(n))
    rng.shuffle(order)
    for i in order[:n_cancel]:
        clean[i].fate = "cancelled"
    machines = [m for m in world.machines if m.is_active]
    per_machine: dict[str, list[WorkOrder]] = {m.machine_id: [] for m in machines}
    for k, i in enumerate(order[n_cancel:]):
        machine = machines[k % len(machines)]
        clean[i].machine = machine
        per_machine[machine.machine_id].append(clean[i])
    for wos in per_machine.values():
        queued = 1 if len(wos) >= 2 and rng.random() < 0.5 else 0
        partial = 1 if len(wos) - queued >= 2 and rng.random() < 0.9 else 0
        for j, wo in enumerate(wos):
            if j >= len(wos) - queued:
                wo.fate = "queued"
            elif j >= len(wos) - queued - partial:
                wo.fate = "hold" if rng.random() < 0.15 else "active"
            else:
                wo.fate = "done"
    n_disc = max(1, round(n * DISCREPANCY_RATE))
    extra = []
    for t, kind in enumerate(DISCREPANCY_TYPES):
        for k in range(n_disc):
            wo = _new(world, rng, f"WO-ERP-{base + 190_000 + t * 2_000 + k}", po_ids)
            wo.fate = kind
            wo.machine = machines[rng.randrange(len(machines))]
            wo.variant_conflict = ("completed", "cancelled")[k % 2]
            extra.append(wo)
    _quantities(world, rng, clean + extra)
    for wo in clean + extra:
        if wo.machine is not None and rng.random() < 0.8:
            wo.line_preference = wo.machine.line
    return clean, extra


def _new(world: TenantWorld, rng: random.Random, wo_id: str, po_ids: list[str]) -> WorkOrder:
    profile = world.profile
    k = rng.randrange(len(profile.products))
    code, name, _desc, _price = profile.products[k]
    product_id = f"PROD-{code}" if "-" in code else f"PROD-{code}-{100 + 10 * k}"
    color = profile.colors[rng.randrange(len(profile.colors))]
    size = profile.sizes[rng.randrange(len(profile.sizes))]
    variant = f"{color} / {size}" if profile.industry == "apparel" else f"{size} - {color}"
    active = [m for m in world.materials if m.is_active]
    bom = []
    for material in rng.sample(active, min(len(active), rng.randint(2, 5))):
        lo, hi = material.per_unit
        per_unit = (
            float(rng.randint(int(lo), int(hi)))
            if material.uom == "EA"
            else round(rng.uniform(lo, hi), 3)
        )
        bom.append((material, per_unit))
    instructions = profile.instructions[rng.randrange(len(profile.instructions))] or None
    return WorkOrder(
        wo_id=wo_id,
        product_id=product_id,
        product_name=name,
        variant=variant,
        uom="EA" if profile.industry != "apparel" else "PCS",
        priority=rng.choices(PRIORITIES, weights=(15, 45, 15, 20, 5))[0],
        customer_order_id=po_ids[rng.randrange(len(po_ids))],
        instructions=instructions,
        bom=bom,
        fate="",
    )


def _quantities(world: TenantWorld, rng: random.Random, wos: list[WorkOrder]) -> None:
    """Order quantities sized so the production counts total ≈ the world's event target."""
    step = world.profile.lot_step
    done = sum(1 for w in wos if w.fate == "done")
    partial = sum(1 for w in wos if w.fate in ("active", "hold"))
    target_units = world.sizes["production_events"] * UNITS_PER_EVENT
    mean = target_units / max(1.0, done + 0.5 * partial)
    for wo in wos:
        wo.quantity = max(step, round(mean * rng.uniform(0.5, 1.5) / step) * step)
        if wo.fate == "done":
            wo.units = wo.quantity
        elif wo.fate in ("active", "hold"):
            wo.units = max(1, round(wo.quantity * rng.uniform(0.2, 0.8)))


def _changed_quantity(rng: random.Random, quantity: int, step: int) -> int:
    new = max(step, round(quantity * rng.uniform(0.8, 1.2) / step) * step)
    return new if new != quantity else quantity + step


def plan_timelines(world: TenantWorld, wos: list[WorkOrder]) -> None:
    """ERP events and MES records of every work order (production already emitted)."""
    rng = world.rng("timelines")
    for wo in wos:
        {
            "done": _producing,
            "active": _producing,
            "hold": _producing,
            "queued": _queued,
            "cancelled": _cancelled,
            "missing_in_mes": _missing_in_mes,
            "missing_in_erp": _missing_in_erp,
            "status_conflict": _status_conflict,
            "quantity_mismatch": _quantity_mismatch,
        }[wo.fate](world, rng, wo)


def _maybe_revise(world, rng, wo, created, release, latest) -> None:
    """Optional quantity change before MES release, optional priority/due change later."""
    step = world.profile.lot_step
    if rng.random() < 0.08 and release - created > 2 * MINUTE:
        wo.initial_quantity = _changed_quantity(rng, wo.quantity, step)
        moment = rng.randint(created + MINUTE, release - MINUTE)
        wo.erp.append((moment, "work_order.updated", "released", {"quantity": wo.quantity}))
    if rng.random() < 0.2 and latest - created > 2 * MINUTE:
        moment = rng.randint(created + MINUTE, latest - MINUTE)
        if rng.random() < 0.5:
            choices = [p for p in PRIORITIES if p != wo.priority]
            change = {"priority": choices[rng.randrange(len(choices))]}
        else:
            change = {"due_shift": rng.randint(2, 5) * DAY}
        wo.erp.append((moment, "work_order.updated", "released", change))


def _producing(world, rng, wo: WorkOrder) -> None:
    ws, as_of = world.window_start, world.as_of
    created = max(ws + rng.randint(MINUTE, HOUR), wo.start - rng.randint(HOUR, 72 * HOUR))
    release = created + int((wo.start - created) * rng.uniform(0.3, 0.9))
    done = wo.fate == "done"
    due = wo.start + rng.randint(2 * DAY, 7 * DAY) if done else as_of + rng.randint(DAY, 7 * DAY)
    wo.erp.append((created, "work_order.created", "released", {"due": due}))
    _maybe_revise(world, rng, wo, created, release, wo.last if done else as_of)
    wo.mes.append((release, "Released", 0, 0, None, None))
    for ts, cum, scrap in wo.day_states[:-1]:
        wo.mes.append((ts, "InProgress", cum, scrap, wo.start, None))
    _, cum, scrap = wo.day_states[-1]
    if done:
        wo.mes.append(
            (wo.last + rng.randint(30_000, 5 * MINUTE), "Completed", cum, scrap, wo.start, wo.last)
        )
        room = min(3 * HOUR, as_of - wo.last - MINUTE)
        wo.erp.append(
            (wo.last + rng.randint(5 * MINUTE, room), "work_order.updated", "completed", {})
        )
    elif wo.fate == "active":
        wo.mes.append((wo.last, "InProgress", cum, scrap, wo.start, None))
    else:
        wo.mes.append(
            (wo.last + rng.randint(5 * MINUTE, HOUR), "OnHold", cum, scrap, wo.start, None)
        )


def _queued(world, rng, wo: WorkOrder) -> None:
    as_of = world.as_of
    created = rng.randint(max(world.window_start, as_of - 5 * DAY), as_of - 3 * HOUR)
    release = created + rng.randint(10 * MINUTE, HOUR)
    wo.erp.append(
        (created, "work_order.created", "released", {"due": as_of + rng.randint(3 * DAY, 14 * DAY)})
    )
    _maybe_revise(world, rng, wo, created, release, as_of)
    wo.mes.append((release, "Released", 0, 0, None, None))


def _cancelled(world, rng, wo: WorkOrder) -> None:
    created = rng.randint(world.window_start + HOUR, world.as_of - 2 * DAY)
    cancel = created + rng.randint(2 * HOUR, 36 * HOUR)
    wo.erp.append(
        (
            created,
            "work_order.created",
            "released",
            {"due": created + rng.randint(5 * DAY, 20 * DAY)},
        )
    )
    _maybe_revise(world, rng, wo, created, created, cancel)
    wo.erp.append((cancel, "work_order.cancelled", "cancelled", {}))


def _recent(world, rng, wo: WorkOrder) -> tuple[int, int]:
    created = rng.randint(world.as_of - 6 * DAY, world.as_of - 3 * DAY)
    wo.erp.append(
        (
            created,
            "work_order.created",
            "released",
            {"due": world.as_of + rng.randint(3 * DAY, 14 * DAY)},
        )
    )
    return created, created + rng.randint(10 * MINUTE, 2 * HOUR)


def _missing_in_mes(world, rng, wo: WorkOrder) -> None:
    created = rng.randint(world.as_of - 2 * DAY, world.as_of - HOUR)
    wo.erp.append(
        (
            created,
            "work_order.created",
            "released",
            {"due": world.as_of + rng.randint(3 * DAY, 14 * DAY)},
        )
    )


def _missing_in_erp(world, rng, wo: WorkOrder) -> None:
    release = rng.randint(world.as_of - 3 * DAY, world.as_of - HOUR)
    wo.mes.append((release, "Released", 0, 0, None, None))


def _status_conflict(world, rng, wo: WorkOrder) -> None:
    created, release = _recent(world, rng, wo)
    wo.mes.append((release, "Released", 0, 0, None, None))
    moment = created + rng.randint(DAY, 2 * DAY)
    if wo.variant_conflict == "completed":
        wo.erp.append((moment, "work_order.updated", "completed", {}))
    else:
        wo.erp.append((moment, "work_order.cancelled", "cancelled", {}))


def _quantity_mismatch(world, rng, wo: WorkOrder) -> None:
    created, release = _recent(world, rng, wo)
    wo.mes.append((release, "Released", 0, 0, None, None))
    new_quantity = _changed_quantity(rng, wo.quantity, world.profile.lot_step)
    wo.erp.append(
        (
            release + rng.randint(HOUR, DAY),
            "work_order.updated",
            "released",
            {"quantity": new_quantity},
        )
    )


def normalized_text(text: str | None) -> str | None:
    """The staging normalisation of free text (dbt macro ``normalized_text``): whitespace runs
    as one space, trimmed, empty as None; case kept."""
    if text is None:
        return None
    return " ".join(text.split()) or None


def _whitespace_variant(rng: random.Random, name: str) -> str:
    """``name`` spelt with other whitespace only: equal after normalisation."""
    words = name.split(" ")
    gaps = [rng.choice((" ", "  ", "\t", "\u00a0", " \n ")) for _ in words[1:]]
    lead = rng.choice(("", " ", "  ", "\t"))
    trail = rng.choice((" ", "   ", "\u00a0", "\n"))
    return lead + "".join(w + g for w, g in zip(words, gaps + [""], strict=True)) + trail


def _renamed(rng: random.Random, how: int, name: str, others: list[str]) -> str:
    """A real description change: another product name (``how`` 0), a new capitalisation (1:
    case is significant) or a suffix (2)."""
    candidates = [o for o in others if normalized_text(o) != normalized_text(name)]
    if how == 0 and candidates:
        new = candidates[rng.randrange(len(candidates))]
    elif how == 1 and name.upper() != name:
        new = name.upper()
    else:
        new = f"{name} {rng.choice(('(old)', 'Rev B', 'v2', '- legacy'))}"
    return new


def drift_descriptions(world: TenantWorld, wos: list[WorkOrder]) -> tuple[list, list]:
    """Give a few clean work orders (known to both systems, no other discrepancy) an MES
    PartDescription other than the ERP product_name: ``DESCRIPTION_DRIFT`` real changes and as
    many whitespace-only ones. Its own random stream, so nothing else in the world changes.
    Returns (real, whitespace-only) work orders."""
    rng = world.rng("description_drift")
    both = [w for w in wos if w.fate in PRODUCING_FATES + ("queued",) and w.mes and w.erp]
    n = max(2, round(len(wos) * DISCREPANCY_RATE))
    picked = rng.sample(both, min(len(both), 2 * n))
    others = sorted({name for _, name, _, _ in world.profile.products})
    real, spaced = picked[:n], picked[n:]
    for i, wo in enumerate(real):
        wo.mes_description = _renamed(rng, (i + world.index) % 3, wo.product_name, others)
    for wo in spaced:
        wo.mes_description = _whitespace_variant(rng, wo.product_name)
    return real, spaced


def erp_payloads(wo: WorkOrder) -> list[tuple[int, dict]]:
    """The ERP events of a work order, oldest first, each the full seed payload (003 §3.2.1)."""
    state = {
        "quantity": wo.initial_quantity if wo.initial_quantity is not None else wo.quantity,
        "priority": wo.priority,
        "due": 0,
    }
    out = []
    for ts, event_type, status, change in sorted(wo.erp, key=lambda e: e[0]):
        if "due_shift" in change:
            state["due"] += change["due_shift"]
        state.update({k: v for k, v in change.items() if k != "due_shift"})
        bom = [
            {
                "material_id": m.material_id,
                "part_number": m.part_number,
                "part_name": m.part_name,
                "quantity_required": math.ceil(per * state["quantity"])
                if m.uom == "EA"
                else round(per * state["quantity"], 2),
                "unit_of_measure": m.uom,
            }
            for m, per in wo.bom
        ]
        out.append(
            (
                ts,
                {
                    "event_type": event_type,
                    "timestamp": iso_ms(ts),
                    "work_order": {
                        "erp_work_order_id": wo.wo_id,
                        "work_order_number": wo.wo_id.rsplit("-", 1)[1],
                        "status": status,
                        "product_id": wo.product_id,
                        "product_name": wo.product_name,
                        "product_variant": wo.variant,
                        "quantity_ordered": state["quantity"],
                        "unit_of_measure": wo.uom,
                        "priority": state["priority"],
                        "due_date": iso_s(state["due"]),
                        "customer_order_id": wo.customer_order_id,
                        "production_line_preference": wo.line_preference,
                        "bill_of_materials": bom,
                        "special_instructions": wo.instructions,
                    },
                },
            )
        )
    return out


def mes_payloads(wo: WorkOrder) -> list[tuple[int, dict]]:
    """The MES job records of a work order (003 §4.3 field names), oldest first."""
    # MES holds the quantity it was released with; only quantity_mismatch orders change later.
    quantity = wo.quantity
    out = []
    for ts, status, produced, scrapped, start, end in wo.mes:
        out.append(
            (
                ts,
                {
                    "JobNumber": wo.wo_id,
                    "PartNumber": wo.product_id,
                    "PartDescription": (
                        wo.product_name if wo.mes_description is None else wo.mes_description
                    ),
                    "Quantity": quantity,
                    "Status": status,
                    "QuantityProduced": produced,
                    "QuantityScrapped": scrapped,
                    "MachineId": wo.machine.machine_id if wo.machine else None,
                    "StartTime": iso_s(start) if start is not None else None,
                    "EndTime": iso_s(end) if end is not None else None,
                    "LastUpdated": iso_ms(ts),
                },
            )
        )
    return out
