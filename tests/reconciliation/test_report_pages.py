"""The nightly reconciliation report's pages, opened in a real browser.

A small hand-made set of discrepancy rows goes into an in-memory DuckDB shaped like the lake
(the four reconciliation marts and the raw ERP/MES work-order tables), is read with the report's
own loaders and written with ``write_site`` — no Dagster job, no dbt. Headless Debian Chromium
(``/usr/bin/chromium``, ``make browser``; never ``playwright install``) driven by Playwright then
checks: the index lists each tenant with the right totals; sorting a column reorders the rows;
the filter box hides non-matching rows; the chart has one series per discrepancy type; a work
order's link opens its event history; a source value holding ``<script>`` is shown as text and
never runs; screenshots of the index and a tenant page are real images.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from traceloom_pipelines.reconciliation.pages import SiteFiles, write_site
from traceloom_pipelines.reconciliation.render import (
    load_reports,
    load_type_history,
    load_work_order_events,
)

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package `chromium`
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
TIMEOUT_MS = 15_000

NIGHT = date(2025, 3, 14)
XSS = "<script>window.__xss = 1</script>"
ACME, BLUE, COAST = "acme-apparel", "blue-fabrics", "coast-knits"

# (tenant, day, work order, type, severity, ERP status, MES status, ERP qty, MES qty,
#  in ERP, in MES)
WORK_ORDERS = [
    (ACME, NIGHT, "WO-100", "status_conflict", "high", "completed", "in_progress", 500, 500, 1, 1),
    (ACME, NIGHT, "WO-101", "missing_in_mes", "low", "released", None, 200, None, 1, 0),
    (ACME, NIGHT, "WO-102", "quantity_mismatch", "high", "released", "released", 500, 480, 1, 1),
    (ACME, NIGHT, "WO-103", "missing_in_erp", "high", None, XSS, None, 300, 0, 1),
    (ACME, NIGHT - timedelta(days=1), "WO-090", "status_conflict", "high", "completed",
     "released", 50, 50, 1, 1),
    (ACME, NIGHT - timedelta(days=10), "WO-050", "quantity_mismatch", "low", "released",
     "released", 90, 91, 1, 1),
    (BLUE, NIGHT, "WO-200", "missing_in_mes", "low", "released", None, 10, None, 1, 0),
]  # fmt: skip
# (tenant, day, material, severity)
INVENTORY = [(ACME, NIGHT, "MAT-1", "high")]
# (tenant, day, employee, severity)
LABOR = [(ACME, NIGHT, "EMP-7", "low"), (BLUE, NIGHT, "EMP-9", "high")]
# tenant-days with a totals row (the nights with a report)
REPORT_DAYS = [(ACME, NIGHT - timedelta(days=1)), (ACME, NIGHT), (BLUE, NIGHT), (COAST, NIGHT)]


def _expected(tenant: str, day: date) -> dict[str, int]:
    """Totals of one tenant-day computed from the hand-made rows above."""
    sev = [r[4] for r in WORK_ORDERS if r[:2] == (tenant, day)]
    sev += [r[3] for r in INVENTORY + LABOR if r[:2] == (tenant, day)]
    return {"total": len(sev), "high": sev.count("high"), "low": sev.count("low")}


def _types_in_trend(tenant: str, night: date) -> set[str]:
    first = night - timedelta(days=29)
    types = {r[3] for r in WORK_ORDERS if r[0] == tenant and first <= r[1] <= night}
    types |= {
        "consumption_variance" for r in INVENTORY if r[0] == tenant and first <= r[1] <= night
    }
    types |= {"hours_variance" for r in LABOR if r[0] == tenant and first <= r[1] <= night}
    return types


def _table(con, name: str, columns: str, rows: list[tuple]) -> None:
    con.execute(f"create table {name} ({columns})")
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f"insert into {name} values ({marks})", rows)


def _lake() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the columns of the marts and raw tables the report reads."""
    con = duckdb.connect()
    con.execute("create schema marts; create schema raw")
    _table(
        con,
        "marts.rpt_work_order_reconciliation_daily",
        "tenant_id varchar, reconciliation_date date, erp_work_order_id varchar, "
        "discrepancy_type varchar, severity varchar, erp_status varchar, mes_status varchar, "
        "erp_quantity double, mes_quantity double, is_in_erp boolean, is_in_mes boolean, "
        "rule varchar, proposed_action varchar",
        [
            (*r[:9], bool(r[9]), bool(r[10]), f"WO-{r[3].upper()}-{r[4].upper()}",
             "auto-sync: copy from ERP" if r[4] == "low" else "manual review")
            for r in WORK_ORDERS
        ],
    )  # fmt: skip
    _table(
        con,
        "marts.rpt_inventory_reconciliation",
        "tenant_id varchar, consumption_date date, material_id varchar, part_name varchar, "
        "unit_of_measure varchar, mes_implied_consumption double, "
        "wms_recorded_consumption double, variance double, variance_pct double, "
        "tolerance double, work_order_count bigint, wms_transaction_count bigint, "
        "severity varchar, rule varchar, proposed_action varchar",
        [
            (t, d, m, "Cotton twill", "m", 120.0, 150.5, 30.5, 25.4, 6.0, 3, 4, s,
             f"INV-VARIANCE-{s.upper()}", "manual review")
            for t, d, m, s in INVENTORY
        ],
    )  # fmt: skip
    _table(
        con,
        "marts.rpt_labor_reconciliation",
        "tenant_id varchar, labor_date date, employee_id varchar, attended_hours double, "
        "booked_hours double, variance_hours double, tolerance_hours double, "
        "clock_in_at timestamptz, clock_out_at timestamptz, booking_count bigint, "
        "work_order_count bigint, severity varchar, rule varchar, proposed_action varchar",
        [
            (t, d, e, 8.0, 7.25, -0.75, 0.25, datetime(2025, 3, 14, 6, tzinfo=UTC),
             datetime(2025, 3, 14, 14, tzinfo=UTC),
             2, 1, s, f"LAB-HOURS-{s.upper()}",
             "auto-sync: book to MES" if s == "low" else "manual review")
            for t, d, e, s in LABOR
        ],
    )  # fmt: skip
    _table(
        con,
        "marts.rpt_reconciliation_daily_totals",
        "tenant_id varchar, reconciliation_date date, erp_work_order_count bigint, "
        "mes_work_order_count bigint, mes_material_count bigint, wms_material_count bigint, "
        "hr_employee_count bigint, mes_employee_count bigint, attended_hours double, "
        "booked_hours double, discrepancy_count bigint, manual_review_count bigint, "
        "auto_sync_count bigint",
        [
            (t, d, 40, 39, 5, 5, 12, 12, 96.0, 95.5, e["total"], e["high"], e["low"])
            for t, d in REPORT_DAYS
            for e in [_expected(t, d)]
        ],
    )
    at = datetime(2025, 3, 11, 8)
    _table(
        con,
        "raw.erp__work_orders",
        'tenant_id varchar, erp_work_order_id varchar, "timestamp" timestamp, '
        "event_type varchar, status varchar, quantity_ordered double, due_date timestamp, "
        "_source_file varchar",
        [
            (ACME, "WO-100", at, "work_order.created", "released", 500, at, "erp/a.json"),
            (ACME, "WO-100", at + timedelta(days=3), "work_order.updated", "completed", 500, at,
             "erp/b.json"),
            (BLUE, "WO-100", at, "work_order.created", "released", 1, at, "other tenant"),
        ],
    )  # fmt: skip
    _table(
        con,
        "raw.mes__work_orders",
        'tenant_id varchar, "JobNumber" varchar, "LastUpdated" timestamp, "Status" varchar, '
        '"Quantity" double, "QuantityProduced" bigint, "QuantityScrapped" bigint, '
        '"MachineId" varchar, _source_file varchar',
        [(ACME, "WO-100", at + timedelta(days=3, hours=1), "InProgress", 500, 420, 3, "M-203",
          "mes/jobs.jsonl")],
    )  # fmt: skip
    _table(
        con,
        "raw.mes__production_counts",
        'tenant_id varchar, machine_id varchar, work_order_id varchar, "timestamp" timestamp, '
        "units_produced bigint",
        [
            (ACME, "M-203", "WO-100", at + timedelta(days=3, hours=2), 12),
            (ACME, "M-203", "WO-100", at + timedelta(days=3, hours=3), 8),
        ],
    )
    return con


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> SiteFiles:
    """The report site of the nights NIGHT-1 and NIGHT (one partition window), as the asset
    builds it: one snapshot's rows read by the loaders, then every page written."""
    con = _lake()
    days = (NIGHT - timedelta(days=1), NIGHT + timedelta(days=1))
    reports = load_reports(con, days=days, snapshot_id=7)
    history = load_type_history(con, days)
    events = load_work_order_events(
        con, [(r.tenant_id, d.work_order) for r in reports for d in r.discrepancies if d.work_order]
    )
    con.close()
    return write_site(tmp_path_factory.mktemp("reports"), reports, history, events)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs it", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    yield page
    context.close()


def _open_tenant(page: Page, site: SiteFiles, tenant: str = ACME, day: date = NIGHT) -> None:
    page.goto(site.reports[(tenant, day)][1].as_uri())
    expect(page.locator("h1")).to_contain_text(tenant)


def _column(page: Page, css: str) -> list[str]:
    return [t.strip() for t in page.locator(f"#discrepancies tbody tr {css}").all_inner_texts()]


def test_site_layout(site):
    assert site.index is not None
    root = site.index.parent
    assert site.index == root / "index.html"
    assert set(site.nights) == {NIGHT - timedelta(days=1), NIGHT}
    assert set(site.reports) == set(REPORT_DAYS)
    assert (root / "latest.html").exists()
    assert not list(root.rglob("*.tmp"))
    markdown = (root / ACME / NIGHT.isoformat() / "reconciliation.md").read_text()
    assert f"Discrepancies Found: {_expected(ACME, NIGHT)['total']}" in markdown
    assert "\n1. Work Order WO-100" in markdown  # the seed's text format, high risk first


def test_index_lists_each_tenant_with_its_totals(page, site):
    page.goto(site.index.as_uri())
    expect(page.locator("h1")).to_contain_text(NIGHT.isoformat())
    rows = page.locator("#tenants tbody tr")
    expect(rows).to_have_count(3)
    got = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        tenant = row.get_attribute("data-tenant")
        got[tenant] = {
            k: int(row.locator(f"td.{k}").inner_text()) for k in ("total", "high", "low")
        }
    assert got == {t: _expected(t, NIGHT) for t in (ACME, BLUE, COAST)}
    # worst first; every tenant has a 30-day trend, ACME's with bars on 3 days
    assert rows.nth(0).get_attribute("data-tenant") == ACME
    expect(page.locator("#tenants svg.trend")).to_have_count(3)
    bars = page.locator(f'tr[data-tenant="{ACME}"] svg.trend g.day:has(rect)')
    assert bars.count() == len({r[1] for r in WORK_ORDERS if r[0] == ACME})
    total = sum(e["total"] for e in got.values())
    expect(page.locator("#night-summary")).to_contain_text(f"{total} discrepancies")
    # the stable entry redirects to the night's own index
    page.goto((site.index.parent / "latest.html").as_uri())
    page.wait_for_url(f"**/_nights/{NIGHT.isoformat()}/index.html")
    page.locator(f'tr[data-tenant="{BLUE}"] a').click()
    page.wait_for_url(f"**/{BLUE}/{NIGHT.isoformat()}/reconciliation.html")


def test_sorting_a_column_reorders_rows(page, site):
    _open_tenant(page, site)
    numbers = _column(page, "td:nth-child(1)")
    assert numbers == [str(n) for n in range(1, len(numbers) + 1)]
    severities = _column(page, "td.severity")
    assert severities == sorted(severities)  # high risk first, as numbered
    before = _column(page, "td.work-order")
    header = page.locator("#discrepancies th", has_text="Work order").locator("button")
    header.click()
    ascending = _column(page, "td.work-order")
    assert ascending == sorted(before, key=str.lower) != before
    header.click()
    assert _column(page, "td.work-order") == list(reversed(ascending))
    page.locator("#discrepancies th", has_text="#").locator("button").click()
    page.locator("#discrepancies th", has_text="#").locator("button").click()
    assert _column(page, "td:nth-child(1)") == list(reversed(numbers))


def test_filter_box_hides_non_matching_rows(page, site):
    _open_tenant(page, site)
    rows = page.locator("#discrepancies tbody tr")
    count = rows.count()
    assert count == _expected(ACME, NIGHT)["total"]
    page.locator("#filter").fill("quantity")
    expect(page.locator("#discrepancies tbody tr:visible")).to_have_count(1)
    expect(page.locator("#discrepancies tbody tr:visible td.work-order")).to_have_text("WO-102")
    expect(page.locator("#discrepancies-shown")).to_have_text(f"1 of {count} shown")
    page.locator("#filter").fill("high missing")  # every word must match
    expect(page.locator("#discrepancies tbody tr:visible td.work-order")).to_have_text("WO-103")
    page.locator("#filter").fill("")
    expect(page.locator("#discrepancies tbody tr:visible")).to_have_count(count)


def test_chart_has_one_series_per_type(page, site):
    _open_tenant(page, site)
    series = page.locator("svg.by-type g.series")
    types = [series.nth(i).get_attribute("data-type") for i in range(series.count())]
    assert len(types) == len(set(types))
    assert set(types) == _types_in_trend(ACME, NIGHT)
    # a series has one point per day with discrepancies of its type in the 30 days
    points = page.locator('svg.by-type g.series[data-type="quantity_mismatch"] circle')
    expect(points).to_have_count(2)  # NIGHT and NIGHT-10
    _open_tenant(page, site, BLUE)
    assert {
        s.get_attribute("data-type") for s in page.locator("svg.by-type g.series").all()
    } == _types_in_trend(BLUE, NIGHT)


def test_work_order_link_opens_its_history(page, site):
    _open_tenant(page, site)
    page.locator("a.wo-link", has_text="WO-100").click()
    page.wait_for_url("**/work_orders/wo-WO-100.html")
    expect(page.locator("h1")).to_have_text("Work order WO-100")
    events = page.locator("#events tbody tr")
    # two ERP events, one MES job record, one day of MES production counts (2 messages, 20 units)
    expect(events).to_have_count(4)
    systems = Counter(
        t.strip() for t in page.locator("#events tbody td:nth-child(2)").all_inner_texts()
    )
    assert systems == {"ERP": 2, "MES": 2}
    expect(events.nth(0)).to_contain_text("work_order.created")
    expect(page.locator("#events")).to_contain_text("production counted")
    expect(page.locator("#events")).not_to_contain_text("other tenant")
    page.locator("ul.found a").first.click()
    page.wait_for_url(f"**/{ACME}/{NIGHT.isoformat()}/reconciliation.html")


def test_script_value_is_shown_as_text(page, site):
    _open_tenant(page, site)
    cell = page.locator("#discrepancies tbody tr", has_text="WO-103").locator("td.mes")
    assert XSS in cell.inner_text()
    assert page.evaluate("window.__xss") is None
    assert page.locator("script").count() == 1  # the page's own
    page.locator("a.wo-link", has_text="WO-103").click()
    expect(page.locator("ul.found")).to_contain_text(XSS)
    assert page.evaluate("window.__xss") is None


def _png_stats(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decompressed image data) of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, at = b"", 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"IDAT":
            idat += data[at + 8 : at + 8 + length]
        at += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_screenshots_are_non_trivial_pngs(page, site, tmp_path):
    shots = {}
    page.goto(site.index.as_uri())
    shots["index"] = tmp_path / "index.png"
    page.screenshot(path=str(shots["index"]), full_page=True)
    _open_tenant(page, site)
    shots["tenant"] = tmp_path / "tenant.png"
    page.screenshot(path=str(shots["tenant"]), full_page=True)
    for name, path in shots.items():
        data = path.read_bytes()
        width, height, distinct = _png_stats(data)
        assert width == 1280 and height >= 400, (name, width, height)
        assert len(data) > 20_000, (name, len(data))
        # a blank page compresses to a handful of byte values; text, tables and charts do not
        assert distinct > 64, (name, distinct)
