"""The public entry point: generate the demo world's drop files and its answer key."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from traceloom_pipelines.demo import (
    certifications,
    defects,
    edi,
    finance,
    labor,
    logistics,
    master_data,
    po_risk,
    sensors,
    stock_events,
)
from traceloom_pipelines.demo.catalog import profile_for
from traceloom_pipelines.demo.clock import DAY, normalize_as_of, to_ms
from traceloom_pipelines.demo.drops import EntityDrops, write_drops
from traceloom_pipelines.demo.feeds import downtime_drops as downtime_event_drops
from traceloom_pipelines.demo.feeds import (
    erp_work_order_drops,
    inspection_drops,
    machine_drops,
    machine_status_drops,
    mes_work_order_drops,
    production_count_drops,
)
from traceloom_pipelines.demo.inventory import material_drops, stock_drops
from traceloom_pipelines.demo.masters import TenantWorld, build_masters, tenant_sizes
from traceloom_pipelines.demo.public_feeds import write_public_feeds
from traceloom_pipelines.demo.purchase_orders import (
    OUT_OF_ORDER_RATE,
    REVISED_SHARE,
    PurchaseOrder,
    build_purchase_orders,
    milestone_drops,
    po_drops,
)
from traceloom_pipelines.demo.shopfloor import ShopFloor, run_shop_floor
from traceloom_pipelines.demo.weather import write_files
from traceloom_pipelines.demo.work_orders import (
    CANCELLED_SHARE,
    DISCREPANCY_RATE,
    WorkOrder,
    define_work_orders,
    drift_descriptions,
    plan_timelines,
)
from traceloom_pipelines.demo.workforce import (
    attendance_drops,
    attendance_spans,
    employee_drops,
    schedule_drops,
    shift_plan,
)

DEFAULT_TENANTS = ("acme-apparel", "borealis-appliances")
MES_STATUS_MAPPINGS = ("Producing", "Down")  # 003 §4.3: → running, → breakdown

ProgressCallback = Callable[[str, int, int], None]
"""``progress(label, done, total)``: ``done`` of ``total`` stages finished, ``label`` names the
stage under way (e.g. ``acme-apparel: writing mes/production_counts``); a last call has
``done == total`` and the label ``done``. Several calls may share one ``done`` (finer labels)."""
EDI_KEY_SECTIONS = (
    "purchase_orders",
    "erp_won",
    "acknowledgments",
    "ship_notices",
    "functional_acknowledgments",
)
TENANT_STAGES = 7  # the stages _generate_tenant reports per tenant


class _Stages:
    """Counts the generator's stages for an optional :data:`ProgressCallback`."""

    def __init__(self, progress: ProgressCallback | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, -1

    def start(self, label: str) -> None:
        """The previous stage is finished; ``label`` begins."""
        self.done += 1
        self.detail(label)

    def detail(self, label: str) -> None:
        """A finer label within the current stage."""
        if self.progress is not None:
            self.progress(label, max(self.done, 0), self.total)

    def finish(self) -> None:
        """Every stage is finished."""
        self.done = self.total
        self.detail("done")


def generate_world(
    landing_dir: Path,
    answer_key_path: Path,
    *,
    seed: int = 7,
    scale: float = 1.0,
    as_of: datetime | None = None,
    tenants: tuple[str, ...] = DEFAULT_TENANTS,
    progress: ProgressCallback | None = None,
) -> dict:
    """Write a deterministic demo world as drop files under ``landing_dir`` and its answer key.

    Files land in ``landing_dir/<tenant>/<system>/<entity>/`` in the payload shapes of the source
    contracts (docs/landing_contract.md). Each entity folder written is emptied first, so a
    regenerated world never mixes with an older one; other folders (e.g. ``public``) are untouched.

    Args:
        landing_dir: the landing root.
        answer_key_path: where the answer key is written as JSON (sorted keys).
        seed: random seed; the same seed, scale and ``as_of`` give byte-identical files.
        scale: 1.0 ≈ 10k POs, 20k work orders, 1M production counts, 500 employees across all
            tenants; sizes scale linearly with a small per-tenant floor (every defect class still
            occurs at least once per tenant).
        as_of: end of the world's 30-day event history (UTC; naive is taken as UTC); default
            today 00:00 UTC. All event timestamps fall before it.
        tenants: tenant ids; ``…apparel…``/``…appliance…`` pick the industry profile.
        progress: called as each stage begins, see :data:`ProgressCallback` (no output of its
            own: the caller draws a bar or prints lines). Exceptions it raises propagate.

    Returns:
        The answer key: per-entity row counts (read/landed/quarantined/duplicate), every
        quarantined and duplicate record by file and 1-based row, out-of-order PO revisions,
        MES status values needing mapping, injected reconciliation discrepancies (including
        ``description_mismatch``: MES PartDescription really differs from ERP product_name) and
        expected warehouse counts per tenant; ``description_whitespace_only`` lists the work
        orders whose descriptions differ only in whitespace, which reconciliation must not
        report. ``inventory_reconciliation`` (tenant_id, material_id, UTC
        day) and ``labor_reconciliation`` (tenant_id, employee_id, day of the clock-in) list the
        injected inventory and labour variances with their expected ``classification`` —
        ``low`` (auto-sync) or ``high`` (manual review) — and the within-tolerance differences
        (``within_tolerance``) that reconciliation must not report; ``tolerances`` gives the
        rule's thresholds. ``port_congestion`` lists the Hong Kong days the demo's MarDep feeds
        make congested and ``po_delay_risk`` every open PO at risk with its signals
        (``demo/po_risk.py``; ``fct_po_delay_risk`` must flag exactly these);
        ``cost_of_delay`` the cost columns of ``fct_po_delay_risk`` (expected delay days,
        chargeback rule and cost of doing nothing, cheapest expedite option, recommended action;
        USD) of every open PO whose customer has a chargeback rule (``demo/finance.py``).
        ``sensor_excursions`` lists the sensor excursions ``fct_sensor_excursions`` must hold
        (with the work order, shipment and PO each is linked to) and ``sensor_blips`` the
        shorter runs outside the thresholds it must not (``demo/sensors.py``).
        ``master_data`` says which source records are the same supplier or product
        (``demo/master_data.py``): the truth identity resolution is scored against.
    """
    moment = normalize_as_of(as_of)
    sizes = tenant_sizes(scale, len(tenants))
    landing_dir = Path(landing_dir)
    key: dict = {
        "seed": seed,
        "scale": scale,
        "as_of": moment.isoformat().replace("+00:00", "Z"),
        "tenants": list(tenants),
        "rates": {
            "quarantine_per_class": defects.QUARANTINE_RATE,
            "duplicates": defects.DUPLICATE_RATE,
            "revised_purchase_orders": REVISED_SHARE,
            "out_of_order_revisions": OUT_OF_ORDER_RATE,
            "reconciliation_per_type": DISCREPANCY_RATE,
            "cancelled_work_orders": CANCELLED_SHARE,
            "inventory_variances_per_classification": stock_events.VARIANCE_RATE,
            "inventory_within_tolerance": stock_events.WITHIN_TOLERANCE_RATE,
            "labor_variances_per_classification": labor.VARIANCE_RATE,
            "labor_within_tolerance": labor.WITHIN_TOLERANCE_RATE,
        },
        "tolerances": {
            "inventory_min_quantity": stock_events.TOLERANCE_MIN,
            "inventory_pct_of_mes": stock_events.TOLERANCE_PCT,
            "inventory_low_risk_pct_of_mes": stock_events.LOW_RISK_PCT,
            "labor_hours": labor.TOLERANCE_HOURS,
            "labor_low_risk_hours": labor.LOW_RISK_HOURS,
        },
        "entities": {},
        "quarantine": [],
        "duplicates": [],
        "out_of_order_revisions": [],
        "status_mappings": {},
        "reconciliation": [],
        "description_whitespace_only": [],
        "inventory_reconciliation": [],
        "labor_reconciliation": [],
        "sensor_excursions": [],
        "sensor_blips": [],
        "edi": {section: [] for section in EDI_KEY_SECTIONS},
        "master_data": {"suppliers": [], "products": []},
        "expected": {},
    }
    stages = _Stages(progress, len(tenants) * TENANT_STAGES + 2)
    offset = 0
    twins: list[po_risk.Twin] = []
    for index, tenant in enumerate(tenants):
        world = TenantWorld(
            tenant, index, seed, profile_for(tenant, index), sizes, to_ms(moment), offset
        )
        offset += sizes["machines"]
        twins.extend(_generate_tenant(world, landing_dir, key, stages))
    key["quarantine"].sort(
        key=lambda e: (e["tenant_id"], e["system"], e["entity"], e["source_file"], e["source_row"])
    )
    key["duplicates"].sort(
        key=lambda e: (e["tenant_id"], e["system"], e["entity"], e["source_file"], e["source_row"])
    )
    key["out_of_order_revisions"].sort(key=lambda e: (e["tenant_id"], e["po_id"]))
    key["reconciliation"].sort(key=lambda e: (e["tenant_id"], e["erp_work_order_id"]))
    key["description_whitespace_only"].sort(key=lambda e: (e["tenant_id"], e["erp_work_order_id"]))
    key["inventory_reconciliation"].sort(key=lambda e: (e["tenant_id"], e["material_id"], e["day"]))
    key["labor_reconciliation"].sort(key=lambda e: (e["tenant_id"], e["employee_id"], e["day"]))
    key["sensor_excursions"].sort(key=lambda e: (e["tenant_id"], e["sensor_id"], e["started_at"]))
    key["sensor_blips"].sort(key=lambda e: (e["tenant_id"], e["sensor_id"], e["started_at"]))
    # Public weather and AIS feeds, placed on the port calls of the vessels in key["vessels"].
    # The typhoon and the congested port are placed on Hong Kong calls of open POs.
    stages.start("public feeds: weather, AIS, port")
    storm_at, congested_at = po_risk.hk_call_targets(twins, to_ms(moment))
    key["weather"], key["ais"] = write_public_feeds(
        landing_dir, seed, to_ms(moment), key.get("vessels", []), storm_at
    )
    port_files, congested_days = po_risk.mardep_files(
        seed, to_ms(moment), congested_at if congested_at is not None else to_ms(moment) - 6 * DAY
    )
    write_files(landing_dir, port_files, po_risk.PORT_FOLDERS)
    key["port_congestion"] = {"port_locode": "HKHKG", "congested_days": congested_days}
    key["po_delay_risk"] = po_risk.delay_risk_key(
        twins,
        to_ms(moment),
        key["weather"]["warning_intervals"],
        congested_days,
        key["ais"]["static_report_list"],
        {(e["tenant_id"], e["po_id"]) for e in key["sensor_excursions"] if e["po_id"]},
    )
    stages.start("answer key")
    answer_key_path = Path(answer_key_path)
    answer_key_path.parent.mkdir(parents=True, exist_ok=True)
    answer_key_path.write_text(json.dumps(key, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    stages.finish()
    return key


def _generate_tenant(
    world: TenantWorld, landing_dir: Path, key: dict, stages: _Stages
) -> list[po_risk.Twin]:
    # TENANT_STAGES counts the stages.start calls below.
    stages.start(f"{world.name}: masters, purchase orders, work orders")
    build_masters(world)
    pos = build_purchase_orders(world)
    clean, extra = define_work_orders(world, [po.po_id for po in pos])
    stages.start(f"{world.name}: shop floor, shifts")
    floor = run_shop_floor(world, clean)
    work_orders = clean + extra
    plan_timelines(world, work_orders)
    drifted, respaced = drift_descriptions(world, clean)
    first_wo: dict[str, str] = {}
    for wo in sorted(work_orders, key=lambda w: w.wo_id):
        if wo.erp:
            first_wo.setdefault(wo.customer_order_id, wo.wo_id)
    plan = shift_plan(world)
    status_counts = Counter(rec["CurrentStatus"] for _, rec in floor.status)
    expected = _expected(world, pos, work_orders, floor, plan)
    stages.start(f"{world.name}: stock events, labour bookings")
    stock_event_ent, inventory_key = stock_events.stock_event_drops(world, work_orders)
    booking_ent, labor_key = labor.labor_booking_drops(
        world, work_orders, attendance_spans(world, plan)
    )
    stages.start(f"{world.name}: erp, factory, mes, hr and wms records")
    entities = [
        material_drops(world),
        po_drops(world, pos),
        erp_work_order_drops(world, work_orders),
        milestone_drops(world, pos, first_wo),
        machine_drops(world),
        machine_status_drops(world, floor),
        mes_work_order_drops(world, work_orders),
        production_count_drops(world, floor),
        inspection_drops(world, floor),
        downtime_event_drops(world, floor),
        employee_drops(world),
        schedule_drops(world, plan),
        attendance_drops(world, plan),
        stock_drops(world),
        stock_event_ent,
        booking_ent,
    ]
    stages.start(f"{world.name}: logistics, certifications, finance")
    shipments = logistics.build_shipments(world, pos)
    logistics_entities, logistics_tags = logistics.logistics_drops(world, shipments)
    certification_entities, certification_state = certifications.certification_drops(world)
    finance_entities, finance_tags, finance_state = finance.finance_drops(world, pos)
    entities += logistics_entities + certification_entities + finance_entities
    sensor_ent, sensor_tags, excursions, blips = sensors.sensor_reading_drops(
        world, work_orders, shipments, sum(e.rows_read() for e in entities)
    )
    entities.append(sensor_ent)
    by_key = {f"{e.system}/{e.entity}": e for e in entities}
    expected["production_milestones"] = by_key["factory/production_milestones"].rows_read()
    expected["attendance_events"] = by_key["hr/attendance"].rows_read()
    stock = by_key["wms/stock_levels"]
    expected["stock_levels"] = stock.rows_read()
    expected["stock_batches"] = sum(
        len(json.loads(text)["batch_details"]) for drop in stock.drops for text in drop.items
    )
    stages.start(f"{world.name}: defects, duplicates")
    registry = [m.machine_id for m in world.machines]
    tags = defects.inject_defects(world.rng("defects"), by_key, registry)
    tags.extend(logistics_tags)
    tags.extend(sensor_tags)
    tags.extend(finance_tags)
    # EDI partner files last: they read the POs and shipments and add no draws to other streams
    edi_entities, edi_tags, edi_key = edi.edi_drops(world, pos, shipments)
    entities += edi_entities
    tags.extend(edi_tags)
    for section in EDI_KEY_SECTIONS:
        key["edi"][section].extend(edi_key[section])
    # master-data spellings (issue #16 §2): their own random stream, nothing else changes
    md_entities, md_key = master_data.master_data_drops(world, pos, work_orders, edi_key["items"])
    entities += md_entities
    for section, entries in md_key.items():
        key["master_data"][section].extend(entries)
    stages.start(f"{world.name}: writing files")
    for ent in entities:
        shutil.rmtree(landing_dir / ent.folder(), ignore_errors=True)
    for ent in entities:
        stages.detail(f"{world.name}: writing {ent.system}/{ent.entity}")
        write_drops(landing_dir, [ent], on_file=lambda _path: None)

    quarantine, duplicates = defects.key_entries(tags)
    key["quarantine"].extend(quarantine)
    key["duplicates"].extend(duplicates)
    _entity_counts(entities, quarantine, duplicates, key["entities"])
    key["out_of_order_revisions"].extend(_out_of_order(world, pos, by_key["erp/purchase_orders"]))
    key["status_mappings"][world.name] = {s: status_counts.get(s, 0) for s in MES_STATUS_MAPPINGS}
    key["reconciliation"].extend(
        {"tenant_id": world.name, "erp_work_order_id": wo.wo_id, "discrepancy_type": wo.fate}
        for wo in work_orders
        if wo.fate in ("missing_in_mes", "missing_in_erp", "status_conflict", "quantity_mismatch")
    )
    key["reconciliation"].extend(
        {
            "tenant_id": world.name,
            "erp_work_order_id": wo.wo_id,
            "discrepancy_type": "description_mismatch",
            "erp_description": wo.product_name,
            "mes_description": wo.mes_description,
        }
        for wo in drifted
    )
    key["description_whitespace_only"].extend(
        {
            "tenant_id": world.name,
            "erp_work_order_id": wo.wo_id,
            "erp_description": wo.product_name,
            "mes_description": wo.mes_description,
        }
        for wo in respaced
    )
    key["inventory_reconciliation"].extend(inventory_key)
    key["labor_reconciliation"].extend(labor_key)
    key["sensor_excursions"].extend(excursions)
    key["sensor_blips"].extend(blips)
    key["expected"][world.name] = expected
    shipment_entries, vessel_entries = logistics.shipment_key(world, shipments)
    key.setdefault("shipments", []).extend(shipment_entries)
    key.setdefault("vessels", []).extend(vessel_entries)
    key.setdefault("supplier_performance", []).extend(
        logistics.supplier_performance_key(shipment_entries)
    )
    key.setdefault("certification_coverage", []).extend(
        certifications.coverage_key(world, pos, certification_state)
    )
    key["certification_coverage"].extend(
        certifications.coverage_without_factory(
            world, [p["po_id"] for p in edi_key["purchase_orders"]], certification_state
        )
    )
    twins = po_risk.build_twins(world.name, pos, shipments, by_key["factory/production_milestones"])
    key.setdefault("cost_of_delay", []).extend(
        finance.cost_of_delay_key(world, pos, twins, finance_state)
    )
    return twins


def _entity_counts(
    entities: list[EntityDrops], quarantine: list[dict], duplicates: list[dict], out: dict
) -> None:
    q = Counter(f"{e['tenant_id']}/{e['system']}/{e['entity']}" for e in quarantine)
    d = Counter(f"{e['tenant_id']}/{e['system']}/{e['entity']}" for e in duplicates)
    for ent in entities:
        read = ent.rows_read()
        out[ent.key] = {
            "rows_read": read,
            "rows_landed": read - q[ent.key] - d[ent.key],
            "rows_quarantined": q[ent.key],
            "rows_duplicate": d[ent.key],
        }


def _out_of_order(world: TenantWorld, pos: list[PurchaseOrder], ent: EntityDrops) -> list[dict]:
    """POs whose revisions land in an order other than their revision numbers (from the files)."""
    landed: dict[str, list[tuple[tuple[str, int], int]]] = {}
    for drop in ent.drops:
        for item in drop.items:
            if isinstance(item, tuple) and item[1].get("kind") == "po":
                tag = item[1]
                landed.setdefault(tag["po_id"], []).append(
                    ((tag["source_file"], tag["source_row"]), tag["revision"])
                )
    out = []
    for po in pos:
        revisions = [rev for _, rev in sorted(landed[po.po_id])]
        if revisions != sorted(revisions):
            latest = po.latest
            out.append(
                {
                    "tenant_id": world.name,
                    "po_id": po.po_id,
                    "latest_revision": latest["revision"],
                    "latest_status": latest["poStatus"],
                    "latest_quantity": latest["quantity"],
                }
            )
    return out


def _expected(
    world: TenantWorld, pos: list[PurchaseOrder], wos: list[WorkOrder], floor: ShopFloor, plan: list
) -> dict:
    """Counts the warehouse should hold for the tenant once every drop is landed and staged."""
    from traceloom_pipelines.demo.work_orders import erp_payloads, mes_payloads

    erp_latest = Counter()
    mes_latest = Counter()
    erp_events = mes_records = 0
    for wo in wos:
        events = erp_payloads(wo)
        records = mes_payloads(wo)
        erp_events += len(events)
        mes_records += len(records)
        if events:
            erp_latest[max(events, key=lambda e: e[0])[1]["work_order"]["status"]] += 1
        if records:
            mes_latest[max(records, key=lambda r: r[0])[1]["Status"]] += 1
    scrapped = sum(w.scrapped for w in wos)
    return {
        "suppliers": len({po.latest["supplier"] for po in pos}),
        "factories": len({po.latest["factory"] for po in pos}),
        "purchase_orders": len(pos),
        "purchase_order_revisions": sum(len(po.payloads) for po in pos),
        "purchase_order_lines": sum(len(po.latest["lineItems"]) for po in pos),
        "purchase_orders_by_status": dict(
            sorted(Counter(po.latest["poStatus"] for po in pos).items())
        ),
        "work_orders_erp": sum(1 for w in wos if w.erp),
        "work_order_events": erp_events,
        "work_orders_erp_by_status": dict(sorted(erp_latest.items())),
        "work_orders_mes": sum(1 for w in wos if w.mes),
        "mes_work_order_records": mes_records,
        "work_orders_mes_by_status": dict(sorted(mes_latest.items())),
        "machines": len(world.machines),
        "machines_active": sum(1 for m in world.machines if m.is_active),
        "machine_status_samples": len(floor.status),
        "materials": len(world.materials),
        "employees": len(world.employees),
        "employee_skills": sum(len(e.skills) for e in world.employees),
        "shift_schedules": len(plan),
        "production_count_events": floor.events,
        "production_count_units": floor.units,
        "production_count_scrapped_units": scrapped,
        "quality_inspections": len(floor.inspections),
        "downtime_events": len(floor.downtime),
    }
