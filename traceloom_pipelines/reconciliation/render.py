"""The nightly reconciliation report (003 §3.4 layout): the data behind it, read from the lake.

Reads the reconciliation marts — ``rpt_reconciliation_daily_totals`` (the header),
``rpt_work_order_reconciliation_daily``, ``rpt_inventory_reconciliation`` and
``rpt_labor_reconciliation`` (the discrepancies), and the landed ERP/MES work-order events
(``raw.erp__work_orders``, ``raw.mes__work_orders``, ``raw.mes__production_counts``: every
revision, where staging keeps the latest) for the work orders' histories — into plain Python rows
(:class:`DailyReport`, :class:`TypeCount`, :class:`WorkOrderEvent`), and renders the seed's text
format as Markdown. The HTML pages built from the same rows are in
:mod:`traceloom_pipelines.reconciliation.pages`; the layout under ``reports/`` is described there.

Discrepancies are numbered high risk (manual review) first, then low risk (auto-sync), each
with its fields, the rule that classified it and the action. Every file is written to a temp
file in the same folder and renamed over the old one, so a reader never sees half a report.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import duckdb
import jinja2

KINDS = ("work_order", "inventory", "labor")
KIND_LABELS = {"work_order": "Work Order", "inventory": "Material", "labor": "Employee"}
REPORT_NAME = "reconciliation"


@dataclass
class Discrepancy:
    """One numbered entry of the report; every text field is plain (unescaped) source text."""

    kind: str  # work_order / inventory / labor
    subject: str  # "Work Order WO-ERP-450123", "Material MAT-A-1234 on ...", "Employee EMP-..."
    key: str  # the id: work order, material or employee id
    severity: str  # low / high
    fields: list[tuple[str, str]]
    rule: str
    action: str
    type: str = ""  # missing_in_mes ... description_mismatch, consumption_variance, hours_variance
    erp_value: str = ""  # the ERP side (WMS for inventory, HR for labour), formatted text
    mes_value: str = ""  # the MES side, formatted text
    work_order: str | None = None  # the ERP work order id (work-order discrepancies only)


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
        """Discrepancies of one kind (``work_order`` / ``inventory`` / ``labor``)."""
        return sum(1 for d in self.discrepancies if d.kind == kind)

    def severity_count(self, severity: str) -> int:
        """Discrepancies of one severity: ``high`` (manual review, open) or ``low``
        (auto-sync scheduled)."""
        return sum(1 for d in self.discrepancies if d.severity == severity)


class TypeCount(NamedTuple):
    """Discrepancies of one tenant, UTC day, type and severity (the charts' input)."""

    tenant_id: str
    day: date
    type: str  # see Discrepancy.type
    severity: str  # high / low
    count: int


class WorkOrderEvent(NamedTuple):
    """One event in a work order's history, as landed from ERP or MES (timestamps naive UTC)."""

    tenant_id: str
    erp_work_order_id: str
    at: datetime  # event time, UTC
    system: str  # ERP / MES
    event: str  # work_order.created ..., "job record", "production counted"
    status: str | None
    quantity: float | None  # ordered (ERP, MES job) or produced that day (production counts)
    detail: str  # free text: produced/scrapped, machine, messages
    source_file: str | None


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


def _work_order_entry(r: dict) -> Discrepancy:
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
    erp_value = _side(r["erp_status"], r["erp_quantity"], r["is_in_erp"])
    mes_value = _side(r["mes_status"], r["mes_quantity"], r["is_in_mes"])
    if kind == "description_mismatch":
        erp_value = r.get("erp_description") or "—"
        mes_value = r.get("mes_description") or "—"
        fields += [("Description in ERP", erp_value), ("Description in MES", mes_value)]
    return Discrepancy(
        "work_order",
        f"Work Order {r['erp_work_order_id']}",
        r["erp_work_order_id"],
        r["severity"],
        fields,
        r["rule"],
        _action(r["severity"], r["proposed_action"]),
        type=kind,
        erp_value=erp_value,
        mes_value=mes_value,
        work_order=r["erp_work_order_id"],
    )


def _side(status: str | None, quantity: float | None, present: bool | None) -> str:
    """One system's view of a work order in one cell: ``completed · 500``, ``absent``."""
    if not present:
        return "absent"
    return " · ".join(part for part in (status, _num(quantity)) if part and part != "—") or "—"


def _inventory_entry(r: dict) -> Discrepancy:
    uom = r["unit_of_measure"] or ""
    mes = _num(r["mes_implied_consumption"], uom)
    wms = _num(r["wms_recorded_consumption"], uom)
    pct = "" if r["variance_pct"] is None else f" ({_signed(r['variance_pct'])} %)"
    name = f" ({r['part_name']})" if r["part_name"] else ""
    return Discrepancy(
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
        type="consumption_variance",
        erp_value=f"WMS {wms}",
        mes_value=f"MES {mes}",
    )


def _utc(moment: datetime) -> datetime:
    """A mart's instant (``timestamp with time zone``, aware in the reading session's zone) as
    UTC; a naive value (a lake built before the marts' instants were typed) is UTC already."""
    return moment.astimezone(UTC) if moment.tzinfo else moment


def _labor_entry(r: dict) -> Discrepancy:
    clock = (
        f" (clock-in {_utc(r['clock_in_at']):%H:%M},"
        f" clock-out {_utc(r['clock_out_at']):%Y-%m-%d %H:%M} UTC)"
        if r["clock_in_at"] and r["clock_out_at"]
        else ""
    )
    return Discrepancy(
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
        type="hours_variance",
        erp_value=f"HR {_num(r['attended_hours'], 'h')}",
        mes_value=f"MES {_num(r['booked_hours'], 'h')}",
    )


# The discrepancy marts a report lists, in report order: mart, its UTC day column, the column
# its entries are ordered by, and the entry of one row.
_DISCREPANCY_MARTS = (
    (
        "rpt_work_order_reconciliation_daily",
        "reconciliation_date",
        "erp_work_order_id",
        _work_order_entry,
    ),
    ("rpt_inventory_reconciliation", "consumption_date", "material_id", _inventory_entry),
    ("rpt_labor_reconciliation", "labor_date", "employee_id", _labor_entry),
)


def _where(
    day_column: str, tenant_id: str | None, day: date | None, days: tuple[date, date] | None
) -> tuple[str, list]:
    where, params = [], []
    if tenant_id is not None:
        where.append("tenant_id = ?")
        params.append(tenant_id)
    if day is not None:
        where.append(f"{day_column} = ?")
        params.append(day)
    if days is not None:
        where.append(f"{day_column} >= ? and {day_column} < ?")
        params.extend(days)
    return (" where " + " and ".join(where) if where else ""), params


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
    (attached at it), stated in each report so that it can be reproduced.

    One query per mart for all the tenant-days asked for (not one per tenant-day and mart: at 90
    tenant-days that was 270 lake queries and most of the reports step)."""
    found: dict[tuple[str, date], list[Discrepancy]] = defaultdict(list)
    for mart, day_column, order_column, entry in _DISCREPANCY_MARTS:
        where, params = _where(day_column, tenant_id, day, days)
        sql = f"select * from marts.{mart}{where} order by tenant_id, {day_column}, {order_column}"
        for r in _rows(con, sql, params):
            found[(r["tenant_id"], r[day_column])].append(entry(r))
    where, params = _where("reconciliation_date", tenant_id, day, days)
    sql = f"select * from marts.rpt_reconciliation_daily_totals{where}"
    reports = []
    for totals in _rows(con, sql + " order by tenant_id, reconciliation_date", params):
        tenant, when = totals["tenant_id"], totals["reconciliation_date"]
        entries = found.get((tenant, when), [])
        entries.sort(key=lambda d: (d.severity != "high", KINDS.index(d.kind), d.key))
        reports.append(DailyReport(tenant, when, totals, entries, snapshot_id))
    return reports


TREND_DAYS = 30  # the index's and the tenant pages' charts: this many UTC days up to the night

_TYPE_HISTORY_SQL = """
select tenant_id, reconciliation_date as day, discrepancy_type as type, severity,
       count(*) as n
from marts.rpt_work_order_reconciliation_daily
where reconciliation_date >= ? and reconciliation_date < ? group by all
union all
select tenant_id, consumption_date, 'consumption_variance', severity, count(*)
from marts.rpt_inventory_reconciliation
where consumption_date >= ? and consumption_date < ? group by all
union all
select tenant_id, labor_date, 'hours_variance', severity, count(*)
from marts.rpt_labor_reconciliation
where labor_date >= ? and labor_date < ? group by all
order by 1, 2, 3, 4
"""


def load_type_history(
    con: duckdb.DuckDBPyConnection, days: tuple[date, date], trend_days: int = TREND_DAYS
) -> list[TypeCount]:
    """Discrepancy counts per tenant, UTC day, type and severity for the nights ``days``
    (``(first, end)``, ``end`` excluded) and the ``trend_days - 1`` days before ``first``, so that
    every night of the window has its trend. Rows: ``TypeCount(tenant_id: str, day: date,
    type: str, severity: 'high'|'low', count: int)``."""
    first, end = days[0] - timedelta(days=trend_days - 1), days[1]
    rows = con.execute(_TYPE_HISTORY_SQL, [first, end] * 3).fetchall()
    return [TypeCount(t, d, kind, sev, int(n)) for t, d, kind, sev, n in rows]


# Every landed ERP event and MES job record of the work orders asked for, plus MES production
# counts summed per UTC day and machine: the raw tables keep every revision (staging keeps only
# the latest). Read on the report's snapshot, like the marts.
_EVENT_SQL = {
    "erp": """
        select e.tenant_id, e.erp_work_order_id, e."timestamp", 'ERP', e.event_type, e.status,
               e.quantity_ordered, coalesce('due ' || strftime(e.due_date, '%Y-%m-%d'), ''),
               e._source_file
        from raw.erp__work_orders as e
        join keys on keys.tenant_id = e.tenant_id
            and keys.erp_work_order_id = e.erp_work_order_id""",
    "mes_jobs": """
        select j.tenant_id, j."JobNumber", j."LastUpdated", 'MES', 'job record', j."Status",
               j."Quantity",
               concat_ws(', ',
                   'produced ' || j."QuantityProduced", 'scrapped ' || j."QuantityScrapped",
                   'machine ' || j."MachineId"),
               j._source_file
        from raw.mes__work_orders as j
        join keys on keys.tenant_id = j.tenant_id and keys.erp_work_order_id = j."JobNumber" """,
    "mes_counts": """
        select c.tenant_id, c.work_order_id, max(c."timestamp"), 'MES', 'production counted',
               null, sum(c.units_produced),
               'machine ' || c.machine_id || ', ' || count(*) || ' count message(s)', null
        from raw.mes__production_counts as c
        join keys on keys.tenant_id = c.tenant_id and keys.erp_work_order_id = c.work_order_id
        group by c.tenant_id, c.work_order_id, c.machine_id, cast(c."timestamp" as date)""",
}


def load_work_order_events(
    con: duckdb.DuckDBPyConnection, work_orders: list[tuple[str, str]]
) -> dict[tuple[str, str], list[WorkOrderEvent]]:
    """The event history of each ``(tenant_id, erp_work_order_id)``: ERP events, MES job records
    and MES production counts per day and machine, oldest first. A raw table that does not exist
    (a lake without that source) contributes nothing. Returns ``{(tenant_id, erp_work_order_id):
    [WorkOrderEvent, ...]}`` with an entry (maybe empty) for every key asked for."""
    keys = sorted(set(work_orders))
    history: dict[tuple[str, str], list[WorkOrderEvent]] = {key: [] for key in keys}
    if not keys:
        return history
    tenants, ids = [k[0] for k in keys], [k[1] for k in keys]
    keys_sql = (
        "with keys as (select unnest(?::varchar[]) as tenant_id, "
        "unnest(?::varchar[]) as erp_work_order_id) "
    )
    for sql in _EVENT_SQL.values():
        try:
            rows = con.execute(keys_sql + sql, [tenants, ids]).fetchall()
        except duckdb.CatalogException:
            continue  # the source's raw table does not exist in this lake
        for row in rows:
            event = WorkOrderEvent(*row)
            history[(event.tenant_id, event.erp_work_order_id)].append(event)
    for events in history.values():
        events.sort(key=lambda e: (e.at, e.system, e.event))
    return history


TEMPLATES = jinja2.PackageLoader("traceloom_pipelines.reconciliation", "templates")
_MARKDOWN_ENV = jinja2.Environment(
    loader=TEMPLATES, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
)
_MARKDOWN_ENV.globals["num"] = _num


def render_markdown(report: DailyReport) -> str:
    """The seed's text format (003 §3.4) of one tenant-day, as Markdown: header with date and
    snapshot, totals table, then every discrepancy numbered with fields, severity, rule and
    action. Plain text: values are not HTML-escaped (the file is offered as a download)."""
    template = _MARKDOWN_ENV.get_template("reconciliation.md.j2")
    return template.render(r=report).rstrip("\n") + "\n"


def report_dir(reports_root: Path, report: DailyReport) -> Path:
    """``<reports_root>/<tenant_id>/<YYYY-MM-DD>/``: one tenant-day's folder."""
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
