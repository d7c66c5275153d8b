"""MES labour bookings of one tenant: the operator ``resources_used`` entries of 003 §3.2.2.

Consistent with HR by construction: every Manufacturing employee's attended shift (clock-in to
clock-out, both before the world's end) is booked without gap or overlap as one to three
consecutive bookings on work orders running in the window (preferably on machines of the
employee's plant), so booked hours per employee-day equal attended hours.

Then labour variances are injected on a few employee-days (booked ≠ attended beyond tolerance,
low and high risk), plus a few differences inside the tolerance that reconciliation must not
report. The tolerance and risk rule mirror
``dbt_project/models/marts/workforce/rpt_labor_reconciliation``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from traceloom_pipelines.demo.catalog import SHIFTS
from traceloom_pipelines.demo.clock import DAY, HOUR, SECOND, compact_date, day_str, iso_s
from traceloom_pipelines.demo.drops import EntityDrops, dumps
from traceloom_pipelines.demo.masters import TenantWorld
from traceloom_pipelines.demo.work_orders import PRODUCING_FATES, WorkOrder
from traceloom_pipelines.demo.workforce import AttendanceSpan

# The reconciliation rule (dbt vars of the same names): an employee-day is a discrepancy when
# |booked - attended| > TOLERANCE_HOURS; low risk when it is <= LOW_RISK_HOURS, else high risk.
TOLERANCE_HOURS = 0.25
LOW_RISK_HOURS = 1.0
VARIANCE_RATE = 0.01  # per classification (low, high), of the booked employee-days
WITHIN_TOLERANCE_RATE = 0.01
BOOKING_DEPARTMENT = "Manufacturing"


@dataclass
class _Booking:
    employee_id: str
    wo: WorkOrder
    start: int
    end: int


def _seconds(clock: str) -> int:
    hh, mm, ss = (int(part) for part in clock.split(":"))
    return (hh * 3600 + mm * 60 + ss) * SECOND


def _hours(ms: int) -> float:
    return round(ms / HOUR, 4)


def labor_booking_drops(
    world: TenantWorld, wos: list[WorkOrder], spans: list[AttendanceSpan]
) -> tuple[EntityDrops, list[dict]]:
    """``mes/labor_bookings`` (JSONL per UTC day of the booking start) and the answer-key
    entries of the injected labour variances and within-tolerance differences."""
    rng = world.rng("labor_bookings")
    producing = [
        w for w in wos if w.machine is not None and w.fate in PRODUCING_FATES and w.day_states
    ]
    by_day: dict[int, list[WorkOrder]] = {}
    for w in producing:
        for day in range(w.start // DAY, w.last // DAY + 1):
            by_day.setdefault(day, []).append(w)
    booked: dict[tuple[str, int], list[_Booking]] = {}
    attended: dict[tuple[str, int], int] = {}
    absent: list[AttendanceSpan] = []
    for span in spans:
        e = span.employee
        if e.department != BOOKING_DEPARTMENT or not producing:
            continue
        if span.clock_in is None:
            if span.day < world.as_of // DAY - 1:
                absent.append(span)
            continue
        if span.clock_out >= world.as_of:
            continue
        k = (e.employee_id, span.clock_in // DAY)
        attended[k] = span.clock_out - span.clock_in
        booked[k] = _split(rng, span, _work_orders(producing, by_day, span))
    key = _inject(world, rng, booked, attended, absent, producing)
    ent = EntityDrops(world.name, "mes", "labor_bookings")
    files: dict[int, list[tuple[int, str, _Booking]]] = {}
    for k in sorted(booked):
        for b in booked[k]:
            files.setdefault(b.start // DAY, []).append((b.start, b.employee_id, b))
    for day in sorted(files):
        texts = []
        for seq, (_, _, b) in enumerate(sorted(files[day], key=lambda r: r[:2]), start=1):
            texts.append(
                dumps(
                    {
                        "booking_id": f"LB-{compact_date(b.start)}-{world.index + 1}{seq:05d}",
                        "employee_id": b.employee_id,
                        "work_order_id": b.wo.wo_id,
                        "machine_id": b.wo.machine.machine_id,
                        "start_time": iso_s(b.start),
                        "end_time": iso_s(b.end),
                        "hours_worked": _hours(b.end - b.start),
                    }
                )
            )
        ent.add(f"labor_bookings_{day_str(day)}.jsonl", "jsonl", texts)
    for entry in key:
        k = entry.pop("_key")
        entry["attended_hours"] = _hours(attended.get(k, 0))
        entry["booked_hours"] = round(sum(_hours(b.end - b.start) for b in booked.get(k, [])), 4)
    return ent, key


def _work_orders(
    producing: list[WorkOrder], by_day: dict[int, list[WorkOrder]], span: AttendanceSpan
) -> list[WorkOrder]:
    """Work orders running during the span on the employee's plant, else anywhere, else all."""
    nearby = by_day.get(span.clock_in // DAY, []) + by_day.get(span.clock_out // DAY, [])
    running = [
        w
        for w in {w.wo_id: w for w in nearby}.values()
        if w.start < span.clock_out and w.last > span.clock_in
    ]
    running.sort(key=lambda w: w.wo_id)
    local = [w for w in running if w.machine.factory.plant_no == span.employee.plant_no]
    return local or running or producing


def _split(rng: random.Random, span: AttendanceSpan, options: list[WorkOrder]) -> list[_Booking]:
    """One to three consecutive bookings covering the span exactly (whole seconds)."""
    k = rng.randint(1, 3)
    weights = [rng.uniform(0.5, 1.5) for _ in range(k)]
    total = span.clock_out - span.clock_in
    cuts, acc = [span.clock_in], 0.0
    for w in weights[:-1]:
        acc += w
        cuts.append(span.clock_in + int(total * acc / sum(weights)) // SECOND * SECOND)
    cuts.append(span.clock_out)
    return [
        _Booking(span.employee.employee_id, options[rng.randrange(len(options))], a, b)
        for a, b in zip(cuts, cuts[1:], strict=False)
    ]


def _inject(
    world: TenantWorld,
    rng: random.Random,
    booked: dict[tuple[str, int], list[_Booking]],
    attended: dict[tuple[str, int], int],
    absent: list[AttendanceSpan],
    producing: list[WorkOrder],
) -> list[dict]:
    """Change the bookings of a few employee-days; returns their answer-key entries."""
    candidates = sorted(booked)
    n = max(1, round(len(candidates) * VARIANCE_RATE))
    n_within = max(1, round(len(candidates) * WITHIN_TOLERANCE_RATE))
    taken: set[tuple[str, int]] = set()
    key: list[dict] = []

    def pick() -> tuple[str, int] | None:
        pool = [k for k in candidates if k not in taken]
        if not pool:
            return None
        choice = pool[rng.randrange(len(pool))]
        taken.add(choice)
        return choice

    def record(k: tuple[str, int], classification: str, kind: str) -> None:
        key.append(
            {
                "tenant_id": world.name,
                "employee_id": k[0],
                "day": day_str(k[1]),
                "_key": k,
                "classification": classification,
                "variance_type": kind,
            }
        )

    def stretch(k: tuple[str, int], hours: float) -> None:
        longest = max(booked[k], key=lambda b: (b.end - b.start, b.start))
        longest.end += int(hours * 3600) * SECOND

    for i in range(n):  # low risk: beyond tolerance, at most LOW_RISK_HOURS
        k = pick()
        if k is None:
            break
        sign = 1 if i % 2 == 0 else -1
        stretch(k, sign * rng.uniform(0.4, 0.8))
        record(k, "low", "over_booked" if sign > 0 else "under_booked")
    kinds = ("hours_not_booked", "double_booked", "booked_without_attendance")
    for i in range(n):  # high risk: more than LOW_RISK_HOURS
        kind = kinds[i % len(kinds)]
        if kind == "booked_without_attendance":
            options = [s for s in absent if (s.employee.employee_id, s.day) not in taken]
            if options:
                span = options[rng.randrange(len(options))]
                k = (span.employee.employee_id, span.day)
                taken.add(k)
                start = span.day * DAY + _seconds(SHIFTS[span.employee.shift][1])
                end = start + rng.randint(4 * 60, 8 * 60) * 60 * SECOND
                wo = producing[rng.randrange(len(producing))]
                booked[k] = [_Booking(k[0], wo, start, end)]
                record(k, "high", kind)
                continue
            kind = "double_booked"
        k = pick()
        if k is None:
            break
        if kind == "hours_not_booked" and len(booked[k]) > 1:
            booked[k].remove(max(booked[k], key=lambda b: (b.end - b.start, b.start)))
        elif kind == "hours_not_booked":
            stretch(k, -rng.uniform(1.5, 3.0))
        else:
            first = booked[k][0]
            start = first.start + rng.randint(0, 60) * 60 * SECOND
            end = start + int(rng.uniform(1.5, 3.0) * 3600) * SECOND
            wo = producing[rng.randrange(len(producing))]
            booked[k].append(_Booking(k[0], wo, start, end))
        record(k, "high", kind)
    for i in range(n_within):  # within tolerance: must not be reported
        k = pick()
        if k is None:
            break
        stretch(k, (1 if i % 2 == 0 else -1) * rng.uniform(0.05, 0.15))
        record(k, "within_tolerance", "rounding_difference")
    return key
