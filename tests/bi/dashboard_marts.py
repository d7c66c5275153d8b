"""A minimal lake for the Superset dashboards' test: only the marts the dashboards read, created
with their dbt contracts' columns and types (the marts' YAML) and filled with known rows.

No pipeline run: the rows are made here (seeded, two tenants, a few days, machines, suppliers
and ports), written through :func:`traceloom_pipelines.landing.warehouse.connect` into a lake
under a temporary data directory, with the marts' documentation as table and column comments
(as ``persist_mart_docs`` leaves them).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from traceloom_pipelines.landing.warehouse import connect, quote
from traceloom_pipelines.resources import PROJECT_ROOT

MARTS_DIR = PROJECT_ROOT / "dbt_project" / "models" / "marts"
MARTS = (
    "rpt_reconciliation_daily_totals",
    "rpt_work_order_reconciliation_daily",
    "fct_production_daily",
    "fct_purchase_orders",
    "fct_po_delay_risk",
    "fct_po_timeline",
    "dim_employees",  # PII (issue #16 §3): what a tenant reader sees masked
)
TENANTS = ("acme-apparel", "borealis-appliances")
DAYS = tuple(date(2026, 11, 28) + timedelta(days=i) for i in range(3))
AS_OF = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # the marts' instants are timestamptz


def contracts() -> dict[str, dict]:
    """``{mart: {"description": str, "columns": {name: (data_type, description)}}}`` of
    :data:`MARTS`, from the marts' dbt YAML."""
    found = {}
    for path in MARTS_DIR.rglob("*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            if model["name"] in MARTS:
                found[model["name"]] = {
                    "description": " ".join(str(model["description"]).split()),
                    "columns": {
                        c["name"]: (c["data_type"], " ".join(str(c["description"]).split()))
                        for c in model["columns"]
                    },
                }
    return found


def _rows(rng: random.Random) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {m: [] for m in MARTS}
    types = ("missing_in_mes", "missing_in_erp", "status_conflict", "quantity_mismatch")
    for tenant in TENANTS:
        for day in DAYS:
            for machine in ("KN-01", "KN-02", "DY-01"):
                units = rng.randint(800, 2600)
                scrap = rng.randint(0, 90)
                downtime = float(rng.choice((0, 35, 120, 410)))
                availability = (1440 - downtime) / 1440
                performance = min(1.0, 30.0 * units / ((1440 - downtime) * 60))
                quality = (units - scrap) / units
                rows["fct_production_daily"].append(
                    {
                        "tenant_id": tenant,
                        "machine_id": machine,
                        "production_date": day,
                        "factory": f"{tenant[:4]}-plant",
                        "units_produced": units,
                        "good_units": units - scrap,
                        "scrap_units": scrap,
                        "downtime_minutes": downtime,
                        "planned_minutes": 1440.0,
                        "run_minutes": 1440 - downtime,
                        "ideal_cycle_time_seconds": 30.0,
                        "availability": availability,
                        "performance": performance,
                        "quality": quality,
                        "oee": availability * performance * quality,
                    }
                )
            found = []
            for n in range(rng.randint(3, 9)):
                kind = rng.choice(types)
                severity = "low" if kind == "missing_in_mes" else "high"
                found.append((f"WO-{day:%d}{n:02d}", kind, severity))
                rows["rpt_work_order_reconciliation_daily"].append(
                    {
                        "tenant_id": tenant,
                        "discrepancy_id": f"{tenant}|{day}|{n}",
                        "reconciliation_date": day,
                        "erp_work_order_id": f"WO-{day:%d}{n:02d}",
                        "discrepancy_type": kind,
                        "severity": severity,
                        "proposed_action": "auto-sync: release work order to MES"
                        if severity == "low"
                        else "manual review",
                        "rule": f"rule for {kind}",
                    }
                )
            inventory, labor = rng.randint(0, 4), rng.randint(0, 3)
            rows["rpt_reconciliation_daily_totals"].append(
                {
                    "tenant_id": tenant,
                    "reconciliation_date": day,
                    "erp_work_order_count": rng.randint(40, 90),
                    "mes_work_order_count": rng.randint(40, 90),
                    "discrepancy_count": len(found) + inventory + labor,
                    "work_order_discrepancy_count": len(found),
                    "inventory_discrepancy_count": inventory,
                    "labor_discrepancy_count": labor,
                    "manual_review_count": sum(s == "high" for *_, s in found) + inventory + labor,
                    "auto_sync_count": sum(s == "low" for *_, s in found),
                }
            )
        for n in range(7):
            po = f"PO-{tenant[:1].upper()}{n:03d}"
            rows["fct_purchase_orders"].append(
                {
                    "tenant_id": tenant,
                    "po_id": po,
                    "po_status": "open",
                    "supplier": rng.choice(("Kowloon Knits", "Pearl River Dyeing", "Lucky Yarn")),
                    "route_origin": rng.choice(("CNSZX", "HKHKG", "VNSGN")),
                    "route_destination": rng.choice(("DEHAM", "NLRTM")),
                }
            )
            if n == 6:  # delivered: not in the risk mart, no current stage
                continue
            level = rng.choice(("none", "low", "medium", "high"))
            signals = {"none": 0, "low": 1, "medium": 2, "high": 3}[level]
            rows["fct_po_delay_risk"].append(
                {
                    "tenant_id": tenant,
                    "po_id": po,
                    "po_status": "open",
                    "current_stage": "DEPARTED",
                    "as_of_at": AS_OF,
                    "signal_count": signals,
                    "risk_level": level,
                    "eta_delay_hours": round(rng.uniform(1, 60), 1) if signals else None,
                    "risk_reason": "No delay risk found." if not signals else f"{signals} signals",
                }
            )
            for seq, stage in enumerate(("GATE_IN", "DEPARTED", "ARRIVED"), start=6):
                planned = AS_OF + timedelta(hours=rng.randint(-48, 96) + 24 * (seq - 7))
                rows["fct_po_timeline"].append(
                    {
                        "tenant_id": tenant,
                        "po_id": po,
                        "stage": stage,
                        "stage_group": "logistics",
                        "stage_sequence": seq,
                        "location": "HKHKG",
                        "planned_at": planned,
                        "planned_source": "plan_rule",
                        "expected_at": planned + timedelta(hours=rng.randint(0, 30)),
                        "stage_status": {6: "done", 7: "in_progress", 8: "not_started"}[seq],
                        "is_current_stage": seq == 7,
                        "is_po_open": True,
                        "as_of_at": AS_OF,
                    }
                )
        for n in range(4):
            rows["dim_employees"].append(
                {
                    "tenant_id": tenant,
                    # the same ids in both tenants: their pseudonyms must still differ
                    "employee_id": f"EMP-{n:04d}",
                    "department": rng.choice(("Manufacturing", "Quality")),
                    "job_title": "Operator",
                    "location": f"{tenant[:4]} plant {n % 2}",
                    "hire_date": date(2020, 1, 1) + timedelta(days=97 * n),
                    "is_active": True,
                    "skill_count": n,
                    "skill_codes": "",
                }
            )
    return rows


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def build(data_dir: Path, seed: int = 15) -> None:
    """Create :data:`MARTS` in the lake of ``data_dir`` with their contracts' columns, the
    marts' documentation as comments, and seeded rows; one lake commit."""
    docs = contracts()
    rows = _rows(random.Random(seed))
    con = connect(data_dir, read_only=False)
    try:
        con.execute("create schema if not exists marts")
        con.execute("begin transaction")
        for mart in MARTS:
            columns = docs[mart]["columns"]
            ddl = ", ".join(f"{quote(c)} {t}" for c, (t, _) in columns.items())
            con.execute(f"create table marts.{mart} ({ddl})")
            con.execute(f"comment on table marts.{mart} is {_literal(docs[mart]['description'])}")
            for column, (_, description) in columns.items():
                con.execute(
                    f"comment on column marts.{mart}.{quote(column)} is {_literal(description)}"
                )
            for record in rows[mart]:
                names = list(record)
                con.execute(
                    f"insert into marts.{mart} ({', '.join(map(quote, names))}) "
                    f"values ({', '.join('?' for _ in names)})",
                    [record[n] for n in names],
                )
        con.execute("commit")
    finally:
        con.close()


if __name__ == "__main__":
    import sys

    build(Path(sys.argv[1]))
