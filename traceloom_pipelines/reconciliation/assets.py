"""The Dagster asset rendering the nightly reconciliation reports (003 §3.4) from the marts."""

from collections import Counter
from datetime import timedelta

import dagster as dg

from traceloom_pipelines.lake import current_snapshot
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.partitions import daily_partitions
from traceloom_pipelines.reconciliation.pages import write_site
from traceloom_pipelines.reconciliation.render import (
    KINDS,
    load_reports,
    load_type_history,
    load_work_order_events,
)
from traceloom_pipelines.resources import WarehouseResource

REPORT_MARTS = (
    "rpt_reconciliation_daily_totals",
    "rpt_work_order_reconciliation_daily",
    "rpt_inventory_reconciliation",
    "rpt_labor_reconciliation",
)


@dg.asset(
    key=["reports", "nightly_reconciliation"],
    deps=[dg.AssetKey(["marts", mart]) for mart in REPORT_MARTS],
    group_name="reports",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"markdown", "html"},
    description="The nightly reconciliation report (003 §3.4 layout) per tenant and UTC day "
    "(one partition per day): "
    "totals per side for work orders, inventory and labour, then every discrepancy numbered, "
    "high risk (manual review) first, with its fields, rule and action. Written atomically to "
    "`reports/<tenant_id>/<YYYY-MM-DD>/reconciliation.md` and `.html` (sortable, filterable "
    "table, chart by type), one index per night (`reports/_nights/<YYYY-MM-DD>/index.html`), "
    "the entry page `reports/index.html` (latest night) and a history page per work order.",
)
def nightly_reconciliation(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    # Every report of this run reads one snapshot: the latest committed now, attached fixed, so
    # a run committing meanwhile cannot mix two states into one report.
    with warehouse.connect(read_only=True) as con:
        snapshot = current_snapshot(con)
    con = connect(warehouse.root, read_only=True, snapshot=snapshot)
    try:
        days = (window.start.date(), window.end.date())
        reports = load_reports(con, days=days, snapshot_id=snapshot)
        history = load_type_history(con, days)
        events = load_work_order_events(
            con,
            [(r.tenant_id, d.work_order) for r in reports for d in r.discrepancies if d.work_order],
        )
    finally:
        con.close()
    reports_root = warehouse.root / "reports"
    latest: dict[str, tuple] = {}
    per_kind: Counter = Counter()
    site = write_site(reports_root, reports, history, events)
    for report in reports:
        md, html = site.reports[(report.tenant_id, report.day)]
        per_kind.update(d.kind for d in report.discrepancies)
        latest[report.tenant_id] = (report, md, html)
    context.log.info(f"wrote {len(reports)} reconciliation reports under {reports_root}")
    table = ["| tenant | latest day | discrepancies | Markdown | HTML |", "|---|---|---|---|---|"]
    table += [
        f"| {tenant} | {report.day.isoformat()} | {len(report.discrepancies)} "
        f"| [{md.name}]({md.as_uri()}) | [{html.name}]({html.as_uri()}) |"
        for tenant, (report, md, html) in sorted(latest.items())
    ]
    metadata: dict[str, object] = {
        "lake_snapshot_id": snapshot,
        "days": f"{window.start:%Y-%m-%d} .. {window.end - timedelta(days=1):%Y-%m-%d}",
        "reports": len(reports),
        "tenants": len(latest),
        **{f"discrepancies_{kind}": per_kind.get(kind, 0) for kind in KINDS},
        "discrepancies_manual_review": sum(
            1 for r in reports for d in r.discrepancies if d.severity == "high"
        ),
        "discrepancies_auto_sync": sum(
            1 for r in reports for d in r.discrepancies if d.severity == "low"
        ),
        "reports_dir": dg.MetadataValue.path(str(reports_root)),
        "index": dg.MetadataValue.path(str(reports_root / "index.html")),
        "latest_reports": dg.MetadataValue.md("\n".join(table) if latest else "_none_"),
    }
    for tenant, (_report, md, _html) in sorted(latest.items()):
        metadata[f"latest_report_{tenant}"] = dg.MetadataValue.path(str(md))
    return dg.MaterializeResult(metadata=metadata)
