"""The nightly reconciliation report (003 §3.4 layout), one per tenant and UTC day.

Reads the reconciliation marts — ``rpt_reconciliation_daily_totals`` (the header),
``rpt_work_order_reconciliation_daily``, ``rpt_inventory_reconciliation`` and
``rpt_labor_reconciliation`` (the discrepancies) — and renders Markdown and HTML::

    $TRACELOOM_DATA_DIR/reports/<tenant_id>/<YYYY-MM-DD>/reconciliation.md
    $TRACELOOM_DATA_DIR/reports/<tenant_id>/<YYYY-MM-DD>/reconciliation.html

Discrepancies are numbered high risk (manual review) first, then low risk (auto-sync), each
with its fields, the rule that classified it and the action. Every file is written to a temp
file in the same folder and renamed over the old one, so a reader never sees half a report.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import jinja2

KINDS = ("work_order", "inventory", "labor")
KIND_LABELS = {"work_order": "Work Order", "inventory": "Material", "labor": "Employee"}
REPORT_NAME = "reconciliation"


@dataclass
class Discrepancy:
    """One numbered entry of the report."""

    kind: str  # work_order / inventory / labor
    subject: str  # "Work Order WO-ERP-450123", "Material MAT-A-1234 on ...", "Employee EMP-..."
    key: str  # the id: work order, material or employee id
    severity: str  # low / high
    fields: list[tuple[str, str]]
    rule: str
    action: str


@dataclass
class DailyReport:
    """One tenant's report for one UTC day."""

    tenant_id: str
    day: date
    totals: dict[str, object]
    discrepancies: list[Discrepancy] = field(default_factory=list)
    snapshot_id: int | None = None  # the lake snapshot the report was computed on

    @property
    def reproduce_command(self) -> str:
        """The ``traceloom sql`` time-travel query reading this report's totals again."""
        return (
            f'traceloom sql --snapshot {self.snapshot_id} "select * from '
            f"marts.rpt_reconciliation_daily_totals where tenant_id = '{self.tenant_id}' "
            f"and reconciliation_date = '{self.day.isoformat()}'\""
        )

    def count(self, kind: str) -> int:
        return sum(1 for d in self.discrepancies if d.kind == kind)


def _num(value: float | int | None, unit: str = "") -> str:
    """A quantity without float noise: ``60``, ``63.328``, ``8.5``; ``—`` for null."""
    if value is None:
        return "—"
    text = f"{float(value):.3f}".rstrip("0").rstrip(".")
    text = "0" if text in ("-0", "") else text
    return f"{text} {unit}".strip()


def _signed(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    return ("+" if value > 0 else "") + _num(value, unit)


def _action(severity: str, proposed_action: str) -> str:
    if severity == "high":
        return "Manual review required"
    detail = proposed_action.split(":", 1)[-1].strip()
    return f"Auto-sync scheduled ({detail})"


def _yes_no(flag: bool | None) -> str:
    return "Yes" if flag else "No"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _work_order_entries(con, tenant: str, day: date) -> list[Discrepancy]:
    out = []
    for r in _rows(
        con,
        "select * from marts.rpt_work_order_reconciliation_daily "
        "where tenant_id = ? and reconciliation_date = ? order by erp_work_order_id",
        [tenant, day],
    ):
        kind = r["discrepancy_type"]
        fields = [("Discrepancy", kind.replace("_", " "))]
        if kind in ("missing_in_mes", "missing_in_erp"):
            fields += [("Exists in ERP", _yes_no(r["is_in_erp"]))]
            fields += [("Exists in MES", _yes_no(r["is_in_mes"]))]
        fields += [
            ("Status in ERP", r["erp_status"] or "—"),
            ("Status in MES", r["mes_status"] or "—"),
        ]
        if kind == "quantity_mismatch":
            fields += [
                ("Quantity in ERP", _num(r["erp_quantity"])),
                ("Quantity in MES", _num(r["mes_quantity"])),
            ]
        out.append(
            Discrepancy(
                "work_order",
                f"Work Order {r['erp_work_order_id']}",
                r["erp_work_order_id"],
                r["severity"],
                fields,
                r["rule"],
                _action(r["severity"], r["proposed_action"]),
            )
        )
    return out


def _inventory_entries(con, tenant: str, day: date) -> list[Discrepancy]:
    out = []
    for r in _rows(
        con,
        "select * from marts.rpt_inventory_reconciliation "
        "where tenant_id = ? and consumption_date = ? order by material_id",
        [tenant, day],
    ):
        uom = r["unit_of_measure"] or ""
        mes = _num(r["mes_implied_consumption"], uom)
        wms = _num(r["wms_recorded_consumption"], uom)
        pct = "" if r["variance_pct"] is None else f" ({_signed(r['variance_pct'])} %)"
        name = f" ({r['part_name']})" if r["part_name"] else ""
        out.append(
            Discrepancy(
                "inventory",
                f"Material {r['material_id']}{name}",
                r["material_id"],
                r["severity"],
                [
                    ("Consumption implied by MES production", mes),
                    ("Consumption recorded in WMS", wms),
                    ("Variance", _signed(r["variance"], uom) + pct),
                    ("Tolerance", _num(r["tolerance"], uom)),
                    ("Work orders producing", str(r["work_order_count"])),
                    ("WMS consumption transactions", str(r["wms_transaction_count"])),
                ],
                r["rule"],
                _action(r["severity"], r["proposed_action"]),
            )
        )
    return out


def _labor_entries(con, tenant: str, day: date) -> list[Discrepancy]:
    out = []
    for r in _rows(
        con,
        "select * from marts.rpt_labor_reconciliation "
        "where tenant_id = ? and labor_date = ? order by employee_id",
        [tenant, day],
    ):
        clock = (
            f" (clock-in {r['clock_in_at']:%H:%M}, "
            f"clock-out {r['clock_out_at']:%Y-%m-%d %H:%M} UTC)"
            if r["clock_in_at"] and r["clock_out_at"]
            else ""
        )
        out.append(
            Discrepancy(
                "labor",
                f"Employee {r['employee_id']}",
                r["employee_id"],
                r["severity"],
                [
                    ("Hours attended (HR)", _num(r["attended_hours"], "h") + clock),
                    (
                        "Hours booked (MES)",
                        f"{_num(r['booked_hours'], 'h')} in {r['booking_count']} booking(s) "
                        f"on {r['work_order_count']} work order(s)",
                    ),
                    ("Variance", _signed(r["variance_hours"], "h")),
                    ("Tolerance", _num(r["tolerance_hours"], "h")),
                ],
                r["rule"],
                _action(r["severity"], r["proposed_action"]),
            )
        )
    return out


def load_reports(
    con: duckdb.DuckDBPyConnection,
    tenant_id: str | None = None,
    day: date | None = None,
    *,
    days: tuple[date, date] | None = None,
    snapshot_id: int | None = None,
) -> list[DailyReport]:
    """Every tenant-day of ``rpt_reconciliation_daily_totals`` with its discrepancies, high risk
    first; optionally only one tenant, one ``day``, or the UTC ``days`` ``(first, end)`` with
    ``end`` excluded (a partition window). ``snapshot_id``: the lake snapshot ``con`` reads
    (attached at it), stated in each report so that it can be reproduced."""
    where, params = [], []
    if tenant_id is not None:
        where.append("tenant_id = ?")
        params.append(tenant_id)
    if day is not None:
        where.append("reconciliation_date = ?")
        params.append(day)
    if days is not None:
        where.append("reconciliation_date >= ? and reconciliation_date < ?")
        params.extend(days)
    sql = "select * from marts.rpt_reconciliation_daily_totals"
    if where:
        sql += " where " + " and ".join(where)
    reports = []
    for totals in _rows(con, sql + " order by tenant_id, reconciliation_date", params):
        tenant, when = totals["tenant_id"], totals["reconciliation_date"]
        entries = (
            _work_order_entries(con, tenant, when)
            + _inventory_entries(con, tenant, when)
            + _labor_entries(con, tenant, when)
        )
        entries.sort(key=lambda d: (d.severity != "high", KINDS.index(d.kind), d.key))
        reports.append(DailyReport(tenant, when, totals, entries, snapshot_id))
    return reports


_MARKDOWN = """\
# Nightly reconciliation report — {{ r.tenant_id }}

Date: {{ r.day.isoformat() }}
{%- if r.snapshot_id is not none %}

Computed on lake snapshot {{ r.snapshot_id }}; reproduce with
`{{ r.reproduce_command }}`.
{%- endif %}

## Totals
{% set t = r.totals %}
| | ERP / HR / MES production | MES / WMS |
|---|---|---|
| Work orders updated | {{ t.erp_work_order_count }} in ERP | {{ t.mes_work_order_count }} in MES |
| Materials consumed | {{ t.mes_material_count }} per MES production | \
{{ t.wms_material_count }} per WMS |
| Labour hours | {{ num(t.attended_hours) }} h attended by {{ t.hr_employee_count }} \
employees (HR) | {{ num(t.booked_hours) }} h booked by {{ t.mes_employee_count }} employees (MES) |

Total Work Orders in ERP: {{ t.erp_work_order_count }}
Total Work Orders in MES: {{ t.mes_work_order_count }}

Discrepancies Found: {{ r.discrepancies | length }} \
({{ t.manual_review_count }} manual review, {{ t.auto_sync_count }} auto-sync; \
{{ r.count("work_order") }} work order, {{ r.count("inventory") }} inventory, \
{{ r.count("labor") }} labour)
{% for d in r.discrepancies %}
{{ loop.index }}. {{ d.subject }}
{%- for label, value in d.fields %}
   - {{ label }}: {{ value }}
{%- endfor %}
   - Severity: {{ d.severity }} risk
   - Rule: {{ d.rule }}
   - Action: {{ d.action }}
{% endfor %}"""

_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Reconciliation {{ r.tenant_id }} {{ r.day.isoformat() }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 60rem; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .3rem .6rem; }
li.high { border-left: 4px solid #c0392b; padding-left: .5rem; margin-bottom: .8rem; }
li.low { border-left: 4px solid #2980b9; padding-left: .5rem; margin-bottom: .8rem; }
</style>
</head>
<body>
<h1>Nightly reconciliation report — {{ r.tenant_id }}</h1>
<p>Date: {{ r.day.isoformat() }}</p>
{%- if r.snapshot_id is not none %}
<p>Computed on lake snapshot {{ r.snapshot_id }}; reproduce with
<code>{{ r.reproduce_command }}</code>.</p>
{%- endif %}
<h2>Totals</h2>
{% set t = r.totals %}
<table>
<tr><th></th><th>ERP / HR / MES production</th><th>MES / WMS</th></tr>
<tr><td>Work orders updated</td><td>{{ t.erp_work_order_count }} in ERP</td>\
<td>{{ t.mes_work_order_count }} in MES</td></tr>
<tr><td>Materials consumed</td><td>{{ t.mes_material_count }} per MES production</td>\
<td>{{ t.wms_material_count }} per WMS</td></tr>
<tr><td>Labour hours</td>\
<td>{{ num(t.attended_hours) }} h attended by {{ t.hr_employee_count }} employees (HR)</td>\
<td>{{ num(t.booked_hours) }} h booked by {{ t.mes_employee_count }} employees (MES)</td></tr>
</table>
<p>Total Work Orders in ERP: {{ t.erp_work_order_count }}<br>
Total Work Orders in MES: {{ t.mes_work_order_count }}</p>
<h2>Discrepancies Found: {{ r.discrepancies | length }}</h2>
<p>{{ t.manual_review_count }} manual review, {{ t.auto_sync_count }} auto-sync;
{{ r.count("work_order") }} work order, {{ r.count("inventory") }} inventory,
{{ r.count("labor") }} labour</p>
<ol>
{%- for d in r.discrepancies %}
<li class="{{ d.severity }}"><strong>{{ d.subject }}</strong>
<ul>
{%- for label, value in d.fields %}
<li>{{ label }}: {{ value }}</li>
{%- endfor %}
<li>Severity: {{ d.severity }} risk</li>
<li>Rule: {{ d.rule }}</li>
<li>Action: <strong>{{ d.action }}</strong></li>
</ul>
</li>
{%- endfor %}
</ol>
</body>
</html>
"""

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_ENV.globals["num"] = _num
_HTML_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, autoescape=True, keep_trailing_newline=True
)
_HTML_ENV.globals["num"] = _num


def render_markdown(report: DailyReport) -> str:
    return _ENV.from_string(_MARKDOWN).render(r=report).rstrip("\n") + "\n"


def render_html(report: DailyReport) -> str:
    return _HTML_ENV.from_string(_HTML).render(r=report)


def report_dir(reports_root: Path, report: DailyReport) -> Path:
    return Path(reports_root) / report.tenant_id / report.day.isoformat()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(reports_root: Path, report: DailyReport) -> tuple[Path, Path]:
    """Write one report's Markdown and HTML; returns their paths."""
    folder = report_dir(reports_root, report)
    md, html = folder / f"{REPORT_NAME}.md", folder / f"{REPORT_NAME}.html"
    write_atomic(md, render_markdown(report))
    write_atomic(html, render_html(report))
    return md, html
