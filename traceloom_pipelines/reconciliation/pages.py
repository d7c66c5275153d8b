"""The nightly reconciliation report as a small static site, built from plain rows.

Layout under ``$TRACELOOM_DATA_DIR/reports/`` (every page self-contained: inline CSS, inline SVG
charts and a few lines of vanilla JavaScript; nothing is downloaded, the pages work offline)::

    index.html                                   entry page: the latest night, and every night
    latest.html                                  stable link, redirects to the latest night
    _nights/<YYYY-MM-DD>/index.html              one index per night: tenants, totals, 30-day trend
    <tenant_id>/<YYYY-MM-DD>/reconciliation.html a tenant's night: sortable, filterable table,
                                                 chart by type over 30 days
    <tenant_id>/<YYYY-MM-DD>/reconciliation.md   the seed's text format (003 §3.4), downloadable
    <tenant_id>/work_orders/wo-<id>.html         a work order's event history (ERP, MES)

(``_nights`` cannot be a tenant: tenant folders start with a letter or digit.) Templates are
Jinja2 package data in ``templates/`` rendered with autoescape on, so every value from a source
system is HTML-escaped; the SVG charts escape theirs (:mod:`.charts`).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from traceloom_pipelines.reconciliation.charts import trend_bars, type_lines, type_sort_key
from traceloom_pipelines.reconciliation.render import (
    REPORT_NAME,
    TEMPLATES,
    TREND_DAYS,
    DailyReport,
    Discrepancy,
    TypeCount,
    WorkOrderEvent,
    _num,
    render_markdown,
    report_dir,
    write_atomic,
)

NIGHTS_DIR = "_nights"
INDEX_NAME = "index.html"
LATEST_NAME = "latest.html"
WORK_ORDERS_DIR = "work_orders"

_ENV = jinja2.Environment(
    loader=TEMPLATES,
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.globals["num"] = _num
# Static CSS and JS inlined verbatim (no template syntax is parsed in them).
_ENV.globals["static"] = lambda name: Markup(TEMPLATES.get_source(_ENV, name)[0])


@dataclass
class SiteFiles:
    """What :func:`write_site` wrote (absolute paths)."""

    reports: dict[tuple[str, date], tuple[Path, Path]] = field(default_factory=dict)
    nights: dict[date, Path] = field(default_factory=dict)  # night -> its index.html
    work_orders: dict[tuple[str, str], Path] = field(default_factory=dict)
    index: Path | None = None  # reports/index.html, when this run holds the latest night


def work_order_slug(erp_work_order_id: str) -> str:
    """A file-name- and URL-safe name for a work order id: the id itself when it is made of
    ``A-Za-z0-9._-`` only (cut to 80 characters), else its safe characters plus a hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", erp_work_order_id)[:80]
    if safe == erp_work_order_id:
        return safe
    digest = hashlib.sha256(erp_work_order_id.encode("utf-8")).hexdigest()[:10]
    return f"{safe}-{digest}"


def _href(*segments: str) -> str:
    return "/".join(quote(s, safe="._-") for s in segments)


def _window(night: date, trend_days: int) -> list[date]:
    return [night - timedelta(days=trend_days - 1 - i) for i in range(trend_days)]


def _counts(
    history: list[TypeCount], reports: list[DailyReport]
) -> dict[tuple[str, date], Counter]:
    """(tenant, day) -> Counter of (type, severity); a day with a report counts the report's
    own discrepancies (authoritative), other days the history rows."""
    counts: dict[tuple[str, date], Counter] = defaultdict(Counter)
    for row in history:
        counts[(row.tenant_id, row.day)][(row.type, row.severity)] += row.count
    for report in reports:
        counts[(report.tenant_id, report.day)] = Counter(
            (d.type, d.severity) for d in report.discrepancies
        )
    return counts


def render_index(
    night: date,
    reports: list[DailyReport],
    history: list[TypeCount],
    *,
    root: str,
    nights: list[date] | None = None,
    trend_days: int = TREND_DAYS,
) -> str:
    """One night's index page: every tenant with a report that night or a discrepancy in the
    ``trend_days`` before it; per tenant the totals (discrepancies, high risk = open / manual
    review, low risk = auto-synced, per kind) and a stacked bar per day of the trend. ``reports``:
    the reports of that night (others are ignored); ``history``: :class:`TypeCount` rows;
    ``root``: relative path from the page to the reports folder (``""`` or ``"../../"``);
    ``nights``: other nights to list (the entry page), newest first."""
    tonight = [r for r in reports if r.day == night]
    counts = _counts(history, tonight)
    days = _window(night, trend_days)
    by_tenant = {r.tenant_id: r for r in tonight}
    tenants = sorted(set(by_tenant) | {t for (t, d) in counts if days[0] <= d <= night})
    rows = []
    for tenant in tenants:
        report = by_tenant.get(tenant)
        high = [sum(n for (_, s), n in counts[(tenant, d)].items() if s == "high") for d in days]
        low = [sum(n for (_, s), n in counts[(tenant, d)].items() if s == "low") for d in days]
        rows.append(
            {
                "tenant": tenant,
                "href": root + _href(tenant, night.isoformat(), f"{REPORT_NAME}.html")
                if report
                else None,
                "total": len(report.discrepancies) if report else 0,
                "high": report.severity_count("high") if report else 0,
                "low": report.severity_count("low") if report else 0,
                "kinds": [report.count(k) if report else 0 for k in _KIND_COLUMNS],
                "trend": trend_bars(days, high, low),
                "trend_total": sum(high) + sum(low),
            }
        )
    rows.sort(key=lambda r: (-r["high"], -r["total"], r["tenant"]))
    snapshots = sorted({r.snapshot_id for r in tonight if r.snapshot_id is not None})
    return _ENV.get_template("index.html.j2").render(
        night=night,
        rows=rows,
        root=root,
        trend_days=trend_days,
        nights=[(d, _href(NIGHTS_DIR, d.isoformat(), INDEX_NAME)) for d in nights or []],
        snapshots=snapshots,
        totals={
            "total": sum(r["total"] for r in rows),
            "high": sum(r["high"] for r in rows),
            "low": sum(r["low"] for r in rows),
        },
    )


_KIND_COLUMNS = ("work_order", "inventory", "labor")


def render_tenant_page(
    report: DailyReport,
    history: list[TypeCount],
    *,
    work_order_pages: dict[str, str] | None = None,
    trend_days: int = TREND_DAYS,
) -> str:
    """A tenant's night: the header and totals of the seed's format, a chart of discrepancies
    per type and day over ``trend_days`` days up to the night (one series per type seen), and
    a sortable, filterable table of the discrepancies (type, severity, action, rule, ERP vs
    MES values, work order, details). ``work_order_pages``: ERP work order id -> its history
    page relative to this page (written at ``<tenant>/<day>/reconciliation.html``)."""
    counts = _counts([h for h in history if h.tenant_id == report.tenant_id], [report])
    days = _window(report.day, trend_days)
    types = sorted(
        {kind for d in days for (kind, _) in counts.get((report.tenant_id, d), {})},
        key=type_sort_key,
    )
    series = {
        kind: [
            sum(
                n for (k, _), n in counts.get((report.tenant_id, d), Counter()).items() if k == kind
            )
            for d in days
        ]
        for kind in types
    }
    pages = work_order_pages or {}
    return _ENV.get_template("tenant.html.j2").render(
        r=report,
        t=report.totals,
        root="../../",
        night_href="../../" + _href(NIGHTS_DIR, report.day.isoformat(), INDEX_NAME),
        markdown_href=f"{REPORT_NAME}.md",
        chart=type_lines(days, series),
        trend_days=trend_days,
        rows=[(n, d, pages.get(d.work_order or "")) for n, d in enumerate(report.discrepancies, 1)],
    )


def render_work_order_page(
    tenant_id: str,
    erp_work_order_id: str,
    events: list[WorkOrderEvent],
    found: list[tuple[DailyReport, Discrepancy]],
) -> str:
    """A work order's history page (written at ``<tenant>/work_orders/wo-<slug>.html``): its
    discrepancies in the reports (``found``: report and discrepancy pairs, each linked to its
    tenant-night page) and every ERP / MES event in ``events``, oldest first (UTC)."""
    return _ENV.get_template("work_order.html.j2").render(
        tenant=tenant_id,
        wo=erp_work_order_id,
        events=events,
        root="../../",
        found=[(r, d, "../" + _href(r.day.isoformat(), f"{REPORT_NAME}.html")) for r, d in found],
    )


def render_latest(night: date) -> str:
    """``latest.html``: a stable path that redirects to the latest night's index."""
    return _ENV.get_template("latest.html.j2").render(
        night=night, href=_href(NIGHTS_DIR, night.isoformat(), INDEX_NAME)
    )


def _nights_on_disk(reports_root: Path) -> list[date]:
    out = []
    for path in (reports_root / NIGHTS_DIR).glob("*/" + INDEX_NAME):
        try:
            out.append(date.fromisoformat(path.parent.name))
        except ValueError:
            continue
    return sorted(out, reverse=True)


def write_site(
    reports_root: Path,
    reports: list[DailyReport],
    history: list[TypeCount],
    work_order_events: dict[tuple[str, str], list[WorkOrderEvent]] | None = None,
    *,
    trend_days: int = TREND_DAYS,
) -> SiteFiles:
    """Write every page of ``reports`` (one :class:`DailyReport` per tenant and night) under
    ``reports_root``, atomically per file (layout in the module docstring): each tenant-night's
    Markdown and HTML page, each night's index, each work order's history page (events from
    ``work_order_events``, keyed ``(tenant_id, erp_work_order_id)``), and — when the newest night
    written here is the newest on disk — ``index.html`` and ``latest.html``. ``history``: the
    :class:`TypeCount` rows for the charts (from ``load_type_history``)."""
    reports_root = Path(reports_root)
    events = work_order_events or {}
    files = SiteFiles()
    found: dict[tuple[str, str], list[tuple[DailyReport, Discrepancy]]] = defaultdict(list)
    for report in reports:
        for d in report.discrepancies:
            if d.work_order:
                found[(report.tenant_id, d.work_order)].append((report, d))
    slugs = {key: f"wo-{work_order_slug(key[1])}.html" for key in found}
    for (tenant, wo), pairs in sorted(found.items()):
        path = reports_root / tenant / WORK_ORDERS_DIR / slugs[(tenant, wo)]
        write_atomic(path, render_work_order_page(tenant, wo, events.get((tenant, wo), []), pairs))
        files.work_orders[(tenant, wo)] = path
    for report in reports:
        folder = report_dir(reports_root, report)
        md, html = folder / f"{REPORT_NAME}.md", folder / f"{REPORT_NAME}.html"
        pages = {
            wo: "../" + _href(WORK_ORDERS_DIR, slug)
            for (tenant, wo), slug in slugs.items()
            if tenant == report.tenant_id
        }
        write_atomic(md, render_markdown(report))
        write_atomic(
            html,
            render_tenant_page(report, history, work_order_pages=pages, trend_days=trend_days),
        )
        files.reports[(report.tenant_id, report.day)] = (md, html)
    for night in sorted({r.day for r in reports}):
        path = reports_root / NIGHTS_DIR / night.isoformat() / INDEX_NAME
        write_atomic(
            path, render_index(night, reports, history, root="../../", trend_days=trend_days)
        )
        files.nights[night] = path
    nights = _nights_on_disk(reports_root)
    if nights and nights[0] in files.nights:
        files.index = reports_root / INDEX_NAME
        write_atomic(
            files.index,
            render_index(
                nights[0], reports, history, root="", nights=nights, trend_days=trend_days
            ),
        )
        write_atomic(reports_root / LATEST_NAME, render_latest(nights[0]))
    return files
