"""HR drops of one tenant (003 §5.2.1): paginated employee master, daily shift schedules and the
clock-in/clock-out attendance webhook stream. Plant local time is UTC in the demo world."""

from __future__ import annotations

from dataclasses import dataclass

from traceloom_pipelines.demo.catalog import SHIFTS
from traceloom_pipelines.demo.clock import DAY, MINUTE, SECOND, compact_date, day_str, iso_s
from traceloom_pipelines.demo.drops import EntityDrops, dumps
from traceloom_pipelines.demo.masters import Employee, TenantWorld

PAGE_SIZE = 100
ABSENCE_RATE = 0.03


def employee_drops(world: TenantWorld) -> EntityDrops:
    """``hr/employees``: one file per API page of :data:`PAGE_SIZE` employees."""
    ent = EntityDrops(world.name, "hr", "employees")
    people = sorted(world.employees, key=lambda e: e.employee_id)
    pages = [people[i : i + PAGE_SIZE] for i in range(0, len(people), PAGE_SIZE)]
    for page_no, page in enumerate(pages, start=1):
        texts = [
            dumps(
                {
                    "employee_id": e.employee_id,
                    "first_name": e.first_name,
                    "last_name": e.last_name,
                    "email": e.email,
                    "phone": e.phone,
                    "department": e.department,
                    "job_title": e.job_title,
                    "hire_date": e.hire_date,
                    "is_active": e.is_active,
                    "location": f"Plant {e.plant_no} - Zone {e.zone}",
                    "skills": e.skills,
                }
            )
            for e in page
        ]
        ent.add(
            f"employees_page_{page_no:03d}.json",
            "envelope",
            texts,
            envelope="employees",
            extra={"total_count": len(people), "page": page_no, "page_size": PAGE_SIZE},
        )
    return ent


def _seconds(clock: str) -> int:
    hh, mm, ss = (int(part) for part in clock.split(":"))
    return (hh * 3600 + mm * 60 + ss) * SECOND


def shift_plan(world: TenantWorld) -> list[tuple[int, object, bool]]:
    """(day number, employee, is_overtime) of every scheduled shift in the window."""
    rng = world.rng("schedules")
    first, last = world.window_start // DAY, (world.as_of - 1) // DAY
    plan = []
    for day in range(first, last + 1):
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        for i, e in enumerate(world.employees):
            if not e.is_active:
                continue
            off = weekday in (i % 7, (i + 1) % 7)
            if off and rng.random() >= 0.05:
                continue
            plan.append((day, e, off))
    return plan


def schedule_drops(world: TenantWorld, plan: list) -> EntityDrops:
    """``hr/shift_schedules``: one ``{"schedules": [...]}`` file per day."""
    ent = EntityDrops(world.name, "hr", "shift_schedules")
    by_day: dict[int, list[tuple[str, str]]] = {}
    for day, e, overtime in plan:
        name, start, end, b_start, b_end = SHIFTS[e.shift]
        by_day.setdefault(day, []).append(
            (
                e.employee_id,
                dumps(
                    {
                        "employee_id": e.employee_id,
                        "shift_date": day_str(day),
                        "shift_name": name,
                        "start_time": start,
                        "end_time": end,
                        "break_start": b_start,
                        "break_end": b_end,
                        "is_overtime": overtime,
                    }
                ),
            )
        )
    for day in sorted(by_day):
        texts = [text for _, text in sorted(by_day[day])]
        ent.add(f"schedules_{day_str(day)}.json", "envelope", texts, envelope="schedules")
    return ent


@dataclass(frozen=True)
class AttendanceSpan:
    """One planned shift as attended: clock-in/out in epoch ms (None when absent)."""

    day: int
    employee: Employee
    clock_in: int | None
    clock_out: int | None
    entrance: str = ""


def attendance_spans(world: TenantWorld, plan: list) -> list[AttendanceSpan]:
    """Every planned shift in plan order with its clock events (same draws as the HR feed)."""
    rng = world.rng("attendance")
    spans: list[AttendanceSpan] = []
    for day, e, _overtime in plan:
        if rng.random() < ABSENCE_RATE:
            spans.append(AttendanceSpan(day, e, None, None))
            continue
        _name, start, _end, _bs, _be = SHIFTS[e.shift]
        begin = day * DAY + _seconds(start)
        clock_in = begin + rng.randint(-12 * 60, 8 * 60) * SECOND
        clock_out = begin + 8 * 60 * MINUTE + rng.randint(-3 * 60, 25 * 60) * SECOND
        entrance = "AB"[rng.randrange(2)]
        spans.append(AttendanceSpan(day, e, clock_in, clock_out, entrance))
    return spans


def attendance_drops(world: TenantWorld, plan: list) -> EntityDrops:
    """``hr/attendance``: clock events as JSONL, one file per UTC day of the event."""
    ent = EntityDrops(world.name, "hr", "attendance")
    by_day: dict[int, list[tuple[int, str, str]]] = {}
    for span in attendance_spans(world, plan):
        if span.clock_in is None:
            continue
        e = span.employee
        for kind, ts in (("clock_in", span.clock_in), ("clock_out", span.clock_out)):
            if ts >= world.as_of:
                continue
            by_day.setdefault(ts // DAY, []).append(
                (
                    ts,
                    e.employee_id,
                    dumps(
                        {
                            "event_type": kind,
                            "timestamp": iso_s(ts),
                            "employee_id": e.employee_id,
                            "location": f"Plant {e.plant_no} - Entrance {span.entrance}",
                            "shift_id": f"SH-{compact_date(span.day * DAY)}-{e.shift}",
                        }
                    ),
                )
            )
    for day in sorted(by_day):
        texts = [text for _, _, text in sorted(by_day[day])]
        ent.add(f"attendance_{day_str(day)}.jsonl", "jsonl", texts)
    return ent
