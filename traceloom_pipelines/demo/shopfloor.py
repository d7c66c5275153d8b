"""The shop floor of one tenant (003 §4.2.1): each machine runs its work orders one after another
inside the 30-day window; this emits the production-count messages (the million-row stream, built
as JSONL text directly), downtime events, quality inspections and machine status samples.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

from traceloom_pipelines.demo.catalog import BREAKDOWN_CODES
from traceloom_pipelines.demo.clock import DAY, HOUR, MINUTE, day_str, iso_ms
from traceloom_pipelines.demo.masters import Machine, TenantWorld
from traceloom_pipelines.demo.work_orders import PRODUCING_FATES, WorkOrder

SLOWEST = 1.35  # actual cycle time is ideal × U(1.0, SLOWEST)
LOT_SHARE = 0.04  # share of messages reporting a small lot (2–5 units) instead of one unit
FAIL_RATE = 0.02
INSPECT_EVERY = 25  # units between inline inspections
SAMPLE_EVERY = 6 * HOUR  # periodic machine status sample (plus one on every status change)


@dataclass
class ShopFloor:
    """Everything the machines emitted, not yet split into files."""

    counts: dict[int, list[tuple[int, str]]] = field(default_factory=dict)  # day → (ts, line)
    status: list[tuple[int, dict]] = field(default_factory=list)
    inspections: list[tuple[int, str, str, str, str, str | None, str]] = field(default_factory=list)
    downtime: list[tuple[int, dict]] = field(default_factory=list)
    units: int = 0
    events: int = 0


def run_shop_floor(world: TenantWorld, work_orders: list[WorkOrder]) -> ShopFloor:
    """Schedule and run every active machine; fills each producing work order's timeline."""
    rng = world.rng("shopfloor")
    out = ShopFloor()
    by_machine: dict[str, list[WorkOrder]] = {}
    for wo in work_orders:
        if wo.machine is not None and wo.fate in PRODUCING_FATES:
            by_machine.setdefault(wo.machine.machine_id, []).append(wo)
    inspectors = [
        e.employee_id for e in world.employees if e.department == "Quality" and e.is_active
    ] or ["QA_Team"]
    first_alt = next(m.machine_id for m in world.machines if m.is_active and m.alt_vocabulary)
    for machine in world.machines:
        if not machine.is_active:
            continue
        prod = by_machine.get(machine.machine_id, [])
        _cap_ideal(machine, prod)
        _plan_downtime(world, rng, machine, prod, force=machine.machine_id == first_alt)
        downs = _run_machine(world, rng, machine, prod, out, inspectors)
        _status_samples(world, rng, machine, prod, downs, out)
    return out


def _cap_ideal(machine: Machine, prod: list[WorkOrder]) -> None:
    """Keep the machine's work inside ~55 % of the window even when it is busy."""
    units = sum(w.units for w in prod)
    if units:
        cap = 0.55 * 30 * 86_400 / (SLOWEST * units)
        machine.ideal = round(max(0.5, min(machine.ideal, cap)), 1)


def _plan_downtime(
    world, rng: random.Random, machine: Machine, prod: list[WorkOrder], force: bool
) -> None:
    if not prod:
        return
    reasons = world.profile.downtime_reasons
    breakdowns = [r for r in reasons if r[0] in BREAKDOWN_CODES]
    count = rng.choice((0, 1, 1, 2, 2, 3, 4))
    if force:
        count = max(count, 1)
    for k in range(count):
        wo = prod[rng.randrange(len(prod))]
        threshold = rng.randint(1, wo.units - 1) if wo.units >= 2 else 0
        reason = (
            breakdowns[rng.randrange(len(breakdowns))]
            if force and k == 0
            else reasons[rng.randrange(len(reasons))]
        )
        minutes = rng.randint(20, 180) if reason[0] in BREAKDOWN_CODES else rng.randint(10, 60)
        wo.downtimes.append((threshold, minutes * MINUTE, reason))


def _run_machine(
    world, rng, machine: Machine, prod: list[WorkOrder], out: ShopFloor, inspectors: list[str]
) -> list[tuple[int, int, tuple, str]]:
    """Lay the machine's work orders out in the window and emit their messages."""
    ws, as_of = world.window_start, world.as_of
    slots = [
        int(w.units * machine.ideal * SLOWEST * 1000) + sum(d[1] for d in w.downtimes) + 1000
        for w in prod
    ]
    partial = bool(prod) and prod[-1].fate != "done"
    if not partial:
        tail = 30 * MINUTE
    elif prod[-1].fate == "active":
        tail = rng.randint(5 * MINUTE, 40 * MINUTE)
    else:
        tail = rng.randint(2 * HOUR, 8 * HOUR)
    lead = 3 * HOUR
    slack = (as_of - ws) - lead - tail - sum(slots)
    if slack < 0:
        raise RuntimeError(f"{machine.machine_id}: work does not fit into the window")
    weights = [rng.random() + 0.2 for _ in range(len(prod) + (0 if partial else 1))]
    total = sum(weights)
    moment = ws + lead
    downs: list[tuple[int, int, tuple, str]] = []
    for wo, slot, weight in zip(prod, slots, weights, strict=False):
        moment += int(slack * weight / total)
        wo.start = moment
        _emit(rng, machine, wo, out, downs)
        _inspect(rng, machine, wo, out, inspectors, as_of, world.profile.defect_types)
        moment += slot
    for start, end, reason, wo_id in downs:
        for ts, kind in ((start, "downtime.started"), (end, "downtime.ended")):
            out.downtime.append(
                (
                    ts,
                    {
                        "event_type": kind,
                        "machine_id": machine.machine_id,
                        "timestamp": iso_ms(ts),
                        "downtime_reason_code": reason[0],
                        "downtime_reason_description": reason[1],
                        "severity": reason[2],
                        "estimated_repair_time_minutes": round(
                            (end - start) / MINUTE * rng.uniform(0.7, 1.3)
                        )
                        if kind == "downtime.started"
                        else None,
                        "work_order_affected": wo_id,
                    },
                )
            )
    return downs


def _emit(rng: random.Random, machine: Machine, wo: WorkOrder, out: ShopFloor, downs: list) -> None:
    """Production-count messages of one work order (the hot loop: text built directly)."""
    rnd = rng.random
    ideal = machine.ideal
    head = f'{{"machine_id":"{machine.machine_id}","work_order_id":"{wo.wo_id}","timestamp":"'
    plan = sorted(wo.downtimes, key=lambda d: d[0])
    next_down = plan[0][0] if plan else None
    units, t, cum, scrap, events = wo.units, wo.start, 0, 0, 0
    day, prefix, bucket = -1, "", None
    counts = out.counts
    states = wo.day_states
    last_t = last_cum = last_scrap = 0
    while cum < units:
        while next_down is not None and cum >= next_down:
            _, duration, reason = plan.pop(0)
            downs.append((t, t + duration, reason, wo.wo_id))
            t += duration
            next_down = plan[0][0] if plan else None
        r = rnd()
        u = 1 if r >= LOT_SHARE else min(units - cum, 2 + int(r * 100))
        ct = ideal * (1.0 + (SLOWEST - 1.0) * rnd())
        t += max(1, int(u * ct * 1000))
        fail = rnd() < FAIL_RATE
        cum += u
        if fail:
            scrap += u
        d = t // DAY
        if d != day:
            if day >= 0:
                states.append((last_t, last_cum, last_scrap))
            day, prefix = d, day_str(d) + "T"
            bucket = counts.setdefault(d, [])
        secs, ms = divmod(t - d * DAY, 1000)
        hh, secs = divmod(secs, 3600)
        mm, ss = divmod(secs, 60)
        bucket.append(
            (
                t,
                f'{head}{prefix}{hh:02d}:{mm:02d}:{ss:02d}.{ms:03d}Z",'
                f'"units_produced":{u},"cumulative_units":{cum},'
                f'"quality_status":"{"fail" if fail else "pass"}",'
                f'"cycle_time_seconds":{ct:.1f}}}',
            )
        )
        events += 1
        last_t, last_cum, last_scrap = t, cum, scrap
    states.append((last_t, last_cum, last_scrap))
    wo.last, wo.produced, wo.scrapped = t, cum, scrap
    out.units += cum
    out.events += events


def _inspect(
    rng,
    machine: Machine,
    wo: WorkOrder,
    out: ShopFloor,
    inspectors: list[str],
    as_of: int,
    defect_types: tuple[str, ...],
) -> None:
    """Inline inspections every ~25 units (at that unit's time) and a final manual one."""
    span = max(1, wo.last - wo.start)
    checks = [
        (
            wo.start + span * k // wo.units + rng.randint(3_000, 9_000),
            "inline_automated",
            "AutoInspect_System",
        )
        for k in range(INSPECT_EVERY, wo.units + 1, INSPECT_EVERY)
    ]
    if wo.fate == "done":
        checks.append(
            (
                wo.last + rng.randint(10 * MINUTE, 40 * MINUTE),
                "final_manual",
                inspectors[rng.randrange(len(inspectors))],
            )
        )
    for ts, kind, inspector in checks:
        failed = rng.random() < 0.03
        defect = defect_types[rng.randrange(len(defect_types))] if failed else None
        if ts < as_of:
            out.inspections.append(
                (
                    ts,
                    machine.machine_id,
                    wo.wo_id,
                    kind,
                    "fail" if failed else "pass",
                    defect,
                    inspector,
                )
            )


def _status_samples(
    world, rng, machine: Machine, prod: list[WorkOrder], downs: list, out: ShopFloor
) -> None:
    """Periodic samples plus one on every status change (OPC-UA value-change notifications)."""
    ws, as_of = world.window_start, world.as_of
    runs = sorted((w.start, w.last, w.wo_id) for w in prod)
    run_starts = [r[0] for r in runs]
    down_starts = [d[0] for d in downs]
    moments: dict[int, None] = {}
    t = ws + rng.randint(0, SAMPLE_EVERY - 1)
    while t < as_of:
        moments[t] = None
        t += SAMPLE_EVERY
    for start, last, _ in runs:
        moments[start + 500] = None
        moments[last + 1_500] = None
    for start, end, _, _ in downs:
        moments[start + 1_000] = None
        moments[end + 1_000] = None
    running, breakdown = ("Producing", "Down") if machine.alt_vocabulary else ("Running", "Faulted")
    for t in sorted(m for m in moments if m < as_of):
        i = bisect.bisect_right(down_starts, t) - 1
        down = downs[i] if i >= 0 and downs[i][1] >= t else None
        j = bisect.bisect_right(run_starts, t) - 1
        run = runs[j] if j >= 0 and runs[j][1] >= t else None
        if down is not None:
            status = breakdown if down[2][0] in BREAKDOWN_CODES else "Stopped"
            record = (status, round(rng.uniform(0, 40), 1), down[3], 0, 0.0, (t - down[0]) // 1000)
        elif run is not None:
            record = (
                running,
                round(rng.uniform(65, 98), 1),
                run[2],
                rng.randint(1, 20),
                round(machine.ideal * rng.uniform(1.0, SLOWEST), 1),
                0,
            )
        else:
            record = ("Idle", round(rng.uniform(0, 35), 1), None, 0, 0.0, 0)
        status, util, wo_id, units, cycle, downtime = record
        out.status.append(
            (
                t,
                {
                    "MachineId": machine.machine_id,
                    "CurrentStatus": status,
                    "UtilizationPercentage": util,
                    "CurrentWorkOrderId": wo_id,
                    "UnitsProducedThisCycle": units,
                    "CycleTimeSeconds": cycle,
                    "DowntimeSeconds": downtime,
                    "LastUpdateTimestamp": iso_ms(t),
                },
            )
        )
