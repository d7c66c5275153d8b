"""Drop files of the machine world: the MES machine registry and streams (003 §4.2.1) and the ERP
work-order events and MES job records (003 §3.2.1, §4.3), split one file per UTC day."""

from __future__ import annotations

from operator import itemgetter

from traceloom_pipelines.demo.clock import compact_date, date_of, day_str, iso_ms
from traceloom_pipelines.demo.drops import EntityDrops, dumps
from traceloom_pipelines.demo.masters import TenantWorld
from traceloom_pipelines.demo.shopfloor import ShopFloor
from traceloom_pipelines.demo.work_orders import WorkOrder, erp_payloads, mes_payloads


def machine_drops(world: TenantWorld) -> EntityDrops:
    """``mes/machines``: the registry, one ``{"machines": [...]}`` file per factory."""
    ent = EntityDrops(world.name, "mes", "machines")
    for factory in world.factories:
        texts = [
            dumps(
                {
                    "machine_id": m.machine_id,
                    "factory": factory.code,
                    "line": m.line,
                    "machine_type": m.machine_type,
                    "ideal_cycle_time_seconds": m.ideal,
                    "is_active": m.is_active,
                }
            )
            for m in world.machines
            if m.factory is factory
        ]
        if texts:
            ent.add(f"machines_{factory.code}.json", "envelope", texts, envelope="machines")
    ent.sort()
    return ent


def _daily(ent: EntityDrops, stem: str, fmt: str, records: list[tuple[int, str, str]]) -> None:
    """Group ``(ts, tiebreak, text)`` records by UTC day into ``<stem>_<date>.<ext>`` files."""
    ext = "jsonl" if fmt == "jsonl" else "json"
    by_day: dict[str, list[tuple[int, str, str]]] = {}
    for record in records:
        by_day.setdefault(date_of(record[0]), []).append(record)
    for day in sorted(by_day):
        ent.add(f"{stem}_{day}.{ext}", fmt, [text for *_, text in sorted(by_day[day])])
    ent.sort()


def production_count_drops(world: TenantWorld, floor: ShopFloor) -> EntityDrops:
    """``mes/production_counts``: the big stream, JSONL per day in message time order."""
    ent = EntityDrops(world.name, "mes", "production_counts")
    for day in sorted(floor.counts):
        bucket = floor.counts[day]
        bucket.sort(key=itemgetter(0))  # stable: machine order breaks ties
        ent.add(f"production_counts_{day_str(day)}.jsonl", "jsonl", [line for _, line in bucket])
    floor.counts = {}
    ent.sort()
    return ent


def machine_status_drops(world: TenantWorld, floor: ShopFloor) -> EntityDrops:
    """``mes/machine_status``: samples as JSONL per day."""
    ent = EntityDrops(world.name, "mes", "machine_status")
    _daily(
        ent,
        "machine_status",
        "jsonl",
        [(ts, rec["MachineId"], dumps(rec)) for ts, rec in floor.status],
    )
    return ent


def downtime_drops(world: TenantWorld, floor: ShopFloor) -> EntityDrops:
    """``mes/downtime_events``: started/ended messages as JSONL per day."""
    ent = EntityDrops(world.name, "mes", "downtime_events")
    _daily(
        ent,
        "downtime_events",
        "jsonl",
        [(ts, rec["machine_id"] + rec["event_type"], dumps(rec)) for ts, rec in floor.downtime],
    )
    return ent


def inspection_drops(world: TenantWorld, floor: ShopFloor) -> EntityDrops:
    """``mes/quality_inspections``: JSONL per day; ids ``INS-<yyyymmdd>-<nnnn>`` in time order."""
    ent = EntityDrops(world.name, "mes", "quality_inspections")
    records = []
    counters: dict[str, int] = {}
    for ts, machine_id, wo_id, kind, result, defect, inspector in sorted(floor.inspections):
        day = compact_date(ts)
        counters[day] = counters.get(day, 0) + 1
        records.append(
            (
                ts,
                machine_id,
                dumps(
                    {
                        "machine_id": machine_id,
                        "work_order_id": wo_id,
                        "timestamp": iso_ms(ts),
                        "inspection_id": f"INS-{day}-{counters[day]:04d}",
                        "inspection_type": kind,
                        "result": result,
                        "defect_detected": result == "fail",
                        "defect_type": defect,
                        "inspector": inspector,
                    }
                ),
            )
        )
    _daily(ent, "quality_inspections", "jsonl", records)
    return ent


def erp_work_order_drops(world: TenantWorld, wos: list[WorkOrder]) -> EntityDrops:
    """``erp/work_orders``: the work-order webhook events as JSONL per day."""
    ent = EntityDrops(world.name, "erp", "work_orders")
    records = [(ts, wo.wo_id, dumps(payload)) for wo in wos for ts, payload in erp_payloads(wo)]
    _daily(ent, "work_order_events", "jsonl", records)
    return ent


def mes_work_order_drops(world: TenantWorld, wos: list[WorkOrder]) -> EntityDrops:
    """``mes/work_orders``: daily change exports of MES jobs (JSON arrays)."""
    ent = EntityDrops(world.name, "mes", "work_orders")
    records = [(ts, wo.wo_id, dumps(payload)) for wo in wos for ts, payload in mes_payloads(wo)]
    _daily(ent, "work_orders", "array", records)
    return ent
