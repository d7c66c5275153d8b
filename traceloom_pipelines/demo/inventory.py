"""Material master (ERP, 003 §3.2.1) and warehouse stock levels (WMS, 003 §6.2.1) of one tenant.

Stock is consistent by construction: ``on_hand = Σ batch quantities`` and
``available = on_hand − allocated``; about one material in six sits below its safety stock.
"""

from __future__ import annotations

from traceloom_pipelines.demo.clock import DAY, HOUR, MINUTE, compact_date, date_of, iso_s
from traceloom_pipelines.demo.drops import EntityDrops, dumps
from traceloom_pipelines.demo.masters import TenantWorld

MATERIAL_COLUMNS = (
    "material_id",
    "part_number",
    "part_name",
    "description",
    "category",
    "unit_of_measure",
    "standard_cost",
    "currency",
    "is_active",
    "safety_stock_quantity",
)
MASTER_CHUNK = 1000
CSV_SHARE = 0.2
PERISHABLE = ("Yarn", "Dyes & Chemicals", "Plastics & Resins", "Rubber & Seals")


def material_drops(world: TenantWorld) -> EntityDrops:
    """``erp/materials``: the nightly master sync as ``{"materials": [...]}`` JSON files, plus one
    CSV of newly added items ten days later."""
    ent = EntityDrops(world.name, "erp", "materials")
    rows = [
        {
            "material_id": m.material_id,
            "part_number": m.part_number,
            "part_name": m.part_name,
            "description": m.description,
            "category": m.category,
            "unit_of_measure": m.uom,
            "standard_cost": m.standard_cost,
            "currency": "USD",
            "is_active": m.is_active,
            "safety_stock_quantity": m.safety_stock,
        }
        for m in world.materials
    ]
    n_csv = max(1, round(len(rows) * CSV_SHARE))
    synced, added = rows[:-n_csv], rows[-n_csv:]
    sync_day = date_of(world.window_start + 2 * HOUR)
    for part, i in enumerate(range(0, len(synced), MASTER_CHUNK), start=1):
        texts = [dumps(r) for r in synced[i : i + MASTER_CHUNK]]
        ent.add(
            f"materials_{sync_day}_part{part:02d}.json", "envelope", texts, envelope="materials"
        )
    csv_rows = [
        {k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in r.items()}
        for r in added
    ]
    ent.add(
        f"materials_{date_of(world.window_start + 10 * DAY)}_new_items.csv",
        "csv",
        csv_rows,
        columns=MATERIAL_COLUMNS,
    )
    ent.sort()
    return ent


def stock_drops(world: TenantWorld) -> EntityDrops:
    """``wms/stock_levels``: one stock-levels API response per warehouse, taken before as_of."""
    rng = world.rng("stock")
    ent = EntityDrops(world.name, "wms", "stock_levels")
    warehouses = [f"Plant{f.plant_no}-WH" for f in world.factories[:3]]
    snapshots = {wh: world.as_of - rng.randint(10 * MINUTE, 4 * HOUR) for wh in warehouses}
    per_wh: dict[str, list[tuple[str, str]]] = {wh: [] for wh in warehouses}
    for i, m in enumerate(world.materials):
        homes = [warehouses[i % len(warehouses)]]
        if len(warehouses) > 1 and rng.random() < 0.1:
            homes.append(warehouses[(i + 1) % len(warehouses)])
        for wh in homes:
            on_hand = max(1, round(m.safety_stock * rng.uniform(0.3, 3.0)))
            n_batches = min(on_hand, rng.randint(1, 3))
            cuts = sorted(rng.sample(range(1, on_hand), n_batches - 1)) if n_batches > 1 else []
            sizes = [b - a for a, b in zip([0, *cuts], [*cuts, on_hand], strict=True)]
            batches = []
            for k, size in enumerate(sizes, start=1):
                received = world.as_of - rng.randint(3, 90) * DAY
                expires = (
                    date_of(received + rng.randint(365, 730) * DAY)
                    if (m.category in PERISHABLE)
                    else None
                )
                batches.append(
                    {
                        "batch_number": f"BATCH-{compact_date(received)}-{k:02d}",
                        "quantity": size,
                        "expiration_date": expires,
                    }
                )
            allocated = int(on_hand * rng.uniform(0, 0.6))
            per_wh[wh].append(
                (
                    m.material_id,
                    dumps(
                        {
                            "material_id": m.material_id,
                            "part_number": m.part_number,
                            "warehouse": wh,
                            "location": _bin_location(rng),
                            "on_hand_quantity": on_hand,
                            "allocated_quantity": allocated,
                            "available_quantity": on_hand - allocated,
                            "unit_of_measure": m.uom,
                            "batch_details": batches,
                            "last_updated": iso_s(snapshots[wh] - rng.randint(0, 30 * MINUTE)),
                        }
                    ),
                )
            )
    for wh in warehouses:
        stamp = iso_s(snapshots[wh]).replace("-", "").replace(":", "")[:13]
        texts = [text for _, text in sorted(per_wh[wh])]
        if texts:
            ent.add(f"stock_levels_{wh}_{stamp}.json", "envelope", texts, envelope="materials")
    ent.sort()
    return ent


def _bin_location(rng) -> str:
    return f"Aisle {rng.randint(1, 30)}, Bin {rng.randint(1, 9)}{'ABCD'[rng.randrange(4)]}"
