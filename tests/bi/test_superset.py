"""The BI tool (issue 15 §3): Superset, as ``make bi`` starts it, renders the marts' numbers.

A lake with only the marts the dashboards read, filled with known rows (dashboard_marts.py; no
pipeline run), a Superset metadata database copied from the template ``make setup`` prepared,
then ``deploy/bi/bootstrap.py`` (admin, import of deploy/bi/assets/) and gunicorn serving
``superset.app:create_app()`` with ``deploy/bi/superset_config.py``, exactly as ``make bi``.
Headless Debian Chromium (``/usr/bin/chromium``; never ``playwright install``) logs in and opens
each dashboard; the test compares what it shows with SQL run directly on the lake:

- every Big Number's text and every table's rows, as formatted on the page;
- every bar and line chart's series (ECharts draws on a canvas): the data the page fetched for
  the chart (``/api/v1/chart/data``), and that the chart drew its canvas;
- the tenant native filter: choosing one tenant changes a Big Number to that tenant's total.

Through Superset's REST API: a row committed to the lake while Superset runs is in the next
query (it reads the lake, not a copy); the datasets carry the marts' documentation; SQL Lab reads
the marts and is refused files, other databases, setting changes and writes.

Privacy (issue #16 §3), with BI users from ``TRACELOOM_BI_USERS``: a reader of one tenant gets
that tenant's rows only, PII as keyed pseudonyms, and every hand-written way to the other
tenant's rows fails; the ``pii`` user reads every tenant unmasked; a user no longer listed
reads nothing.

Superset missing (``.venv-bi`` or its template) or Chromium missing fails the test, never skips.
Screenshots of each dashboard go to ``tests/artifacts/`` (gitignored).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import yaml
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.bi import dashboard_marts
from traceloom_pipelines import ownership, privacy
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.marts_export import export_mart
from traceloom_pipelines.resources import PROJECT_ROOT

BI_DIR = PROJECT_ROOT / "deploy" / "bi"
BI_BIN = PROJECT_ROOT / ".venv-bi" / "bin"
TEMPLATE = PROJECT_ROOT / ".venv-bi" / "template" / "superset.db"
MANIFEST = PROJECT_ROOT / "dbt_project" / "target" / "manifest.json"
TENANT_READER, PII_READER = "ada", "dpo"  # a reader of the first tenant; the privileged role
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package `chromium`
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
START_TIMEOUT_S = 240  # bootstrap + gunicorn on a busy 2-core machine
RENDER_TIMEOUT_S = 240  # every chart of a dashboard queried and drawn
POLL_S = 1.0


def _dashboards_module():
    spec = importlib.util.spec_from_file_location("bi_dashboards", BI_DIR / "dashboards.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


dashboards = _dashboards_module()


# --- the lake and the server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """The lake of dashboard_marts.py, and its marts exported as the pipeline's
    ``bi/marts_parquet`` does (PII masked with the data directory's key)."""
    data_dir = tmp_path_factory.mktemp("bi_world")
    dashboard_marts.build(data_dir)
    masking = privacy.mart_masking(json.loads(MANIFEST.read_text()))
    key = privacy.pii_hash_key(data_dir)
    con = connect(data_dir, read_only=True)
    try:
        for mart in dashboard_marts.MARTS:
            export_mart(con, "marts", mart, data_dir / "marts", masking.get(mart), key)
    finally:
        con.close()
    return data_dir


def _password_hash(password: str) -> str:
    """A Werkzeug hash for ``TRACELOOM_BI_USERS``, made as the README says."""
    made = subprocess.run(
        [BI_BIN / "python", BI_DIR / "bootstrap.py", "--hash-password"],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return made.stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def superset(data_dir: Path) -> Iterator[dict]:
    """``{"url", "user", "password"}`` of a Superset started as ``make bi`` starts it."""
    if not (BI_BIN / "gunicorn").exists() or not TEMPLATE.exists():
        pytest.fail(
            f"Superset is not installed ({BI_BIN}/gunicorn or {TEMPLATE} missing): "
            "`make setup` installs .venv-bi and prepares the template",
            pytrace=False,
        )
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs it", pytrace=False)
    password = secrets.token_urlsafe(12)
    readers = {name: secrets.token_urlsafe(12) for name in (TENANT_READER, PII_READER)}
    users = (
        f"{TENANT_READER}:reader:{dashboard_marts.TENANTS[0]}:"
        f"{_password_hash(readers[TENANT_READER])},"
        f"{PII_READER}:pii:*:{_password_hash(readers[PII_READER])}"
    )
    env = {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(BI_DIR / "superset_config.py"),
        "TRACELOOM_DATA_DIR": str(data_dir),
        "TRACELOOM_BI_HOME": str(data_dir / "bi"),
        "TRACELOOM_BI_ADMIN_USER": "analyst",
        "TRACELOOM_BI_ADMIN_PASSWORD": password,
        "TRACELOOM_BI_USERS": users,
    }
    boot = subprocess.run(
        [BI_BIN / "python", BI_DIR / "bootstrap.py", "--template", TEMPLATE],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert boot.returncode == 0, f"bootstrap failed:\n{boot.stdout}\n{boot.stderr[-3000:]}"
    assert "started from the template" in boot.stdout and "imported" in boot.stdout
    assert password not in boot.stdout + boot.stderr  # the admin's password is never printed
    assert f"BI user '{TENANT_READER}' created" in boot.stdout
    assert users.split(":", 3)[3].split(",")[0] not in boot.stdout + boot.stderr  # nor a hash

    (data_dir / "bi" / "env.json").write_text(json.dumps(env))  # for the re-import test
    port = _free_port()
    log = (data_dir / "bi" / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [BI_BIN / "gunicorn", "--workers", "1", "--threads", "8", "--timeout", "120"]
        + ["--bind", f"127.0.0.1:{port}", "superset.app:create_app()"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its worker too is stopped with the group
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert server.poll() is None, f"gunicorn exited: {_tail(data_dir / 'bi/gunicorn.log')}"
            try:
                if requests.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"Superset not up in {START_TIMEOUT_S} s"
            time.sleep(POLL_S)
        yield {"url": url, "user": "analyst", "password": password, "readers": readers}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def browser_page(superset: dict, tmp_path_factory) -> Iterator[tuple[Page, list]]:
    """A logged-in page, and the list of ``(slice_id, chart data)`` of every chart-data
    response the page received (cleared by each test)."""
    received: list[tuple[int | None, dict]] = []

    def on_response(response) -> None:
        if "/api/v1/chart/data" not in response.url or response.status != 200:
            return
        try:
            form_data = json.loads(response.request.post_data or "{}").get("form_data", {})
            received.append((form_data.get("slice_id"), response.json()))
        except ValueError:
            pass

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1800},
        )
        page = browser.new_page()
        page.set_default_timeout(RENDER_TIMEOUT_S * 1000)
        _log_in(page, superset)
        page.on("response", on_response)
        try:
            yield page, received
        finally:
            browser.close()


LOGIN_ATTEMPT_S = 60


def _log_in(page: Page, superset: dict) -> None:
    """Log in through Superset's login page until it lands on the welcome page. On a busy
    machine the page's form may not yet handle the Enter key when it is typed: the login is
    tried again (a new attempt starts until START_TIMEOUT_S has passed; each waits up to
    LOGIN_ATTEMPT_S)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    attempts = 0
    while True:
        attempts += 1
        page.goto(f"{superset['url']}/login/")
        page.fill("input#username", superset["user"])
        page.fill("input#password", superset["password"])
        page.keyboard.press("Enter")
        try:
            page.wait_for_url("**/superset/welcome/**", timeout=LOGIN_ATTEMPT_S * 1000)
            return
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no Superset welcome page after {attempts} logins in {START_TIMEOUT_S} s "
                    f"(at {page.url})"
                )


# --- what the lake says -----------------------------------------------------------------------


def _lake_rows(data_dir: Path, sql: str) -> list[tuple]:
    con = connect(data_dir, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _fmt(value, d3: str) -> str:
    """A value as Superset formats it with the d3 format ``d3`` (the ones the charts use)."""
    if value is None:
        return "N/A"
    return {
        ",d": lambda v: f"{round(v):,}",
        ".1%": lambda v: f"{v:.1%}",
        ",.0f": lambda v: f"{v:,.0f}",
        ",.1f": lambda v: f"{v:,.1f}",
        "str": str,
    }[d3](value)


def _epoch_ms(day) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000


# Per dashboard, independently of deploy/bi/dashboards.py: each Big Number's SQL on the lake and
# format; each table's rows (already formatted, in any order); each bar or line chart's series
# as {(x, series): value}.
# (mart, aggregate, where, d3 format) of each Big Number
RECON, PRODUCTION, RISK = (
    "rpt_reconciliation_daily_totals",
    "fct_production_daily",
    "fct_po_delay_risk",
)
BIG_NUMBERS = {
    "traceloom-reconciliation": {
        "Discrepancies": (RECON, "sum(discrepancy_count)", "true", ",d"),
        "Open (manual review)": (RECON, "sum(manual_review_count)", "true", ",d"),
        "Auto-synced": (RECON, "sum(auto_sync_count)", "true", ",d"),
        # the other mart: one row per work-order discrepancy
        "Work-order discrepancies": (
            "rpt_work_order_reconciliation_daily",
            "count(*)",
            "true",
            ",d",
        ),
    },
    "traceloom-production": {
        "Units produced": (PRODUCTION, "sum(units_produced)", "true", ",d"),
        "Good units": (PRODUCTION, "sum(good_units)", "true", ",d"),
        "Scrap units": (PRODUCTION, "sum(scrap_units)", "true", ",d"),
        "Average OEE": (PRODUCTION, "avg(oee)", "true", ".1%"),
    },
    "traceloom-po-risk": {
        "Open POs": (RISK, "count(*)", "true", ",d"),
        "POs at risk": (RISK, "count(*)", "signal_count > 0", ",d"),
        "POs at high risk": (RISK, "count(*)", "risk_level = 'high'", ",d"),
        "Risk signals raised": (RISK, "sum(signal_count)", "true", ",d"),
    },
}

TABLES = {
    "traceloom-reconciliation": {
        "Work-order discrepancies by type and severity": (
            "select discrepancy_type, severity, proposed_action, count(*) "
            "from marts.rpt_work_order_reconciliation_daily group by all",
            ("str", "str", "str", ",d"),
        ),
    },
    "traceloom-production": {
        "Production by machine": (
            "select tenant_id, factory, machine_id, sum(units_produced), sum(scrap_units), "
            "sum(downtime_minutes), avg(oee) from marts.fct_production_daily group by all",
            ("str", "str", "str", ",d", ",d", ",.0f", ".1%"),
        ),
    },
    "traceloom-po-risk": {
        "Delay risk by supplier and port": (
            "select o.supplier, o.route_origin, o.route_destination, r.risk_level, count(*), "
            "max(r.eta_delay_hours) from marts.fct_po_delay_risk r "
            "join marts.fct_purchase_orders o using (tenant_id, po_id) group by all",
            ("str", "str", "str", "str", ",d", ",.1f"),
        ),
        "Open POs: current stage (timeline)": (
            "select tenant_id, po_id, stage, stage_status, location, "
            "strftime(planned_at, '%Y-%m-%d %H:%M'), strftime(expected_at, '%Y-%m-%d %H:%M') "
            "from marts.fct_po_timeline where is_current_stage",
            ("str",) * 7,
        ),
    },
}

# chart -> SQL returning (x, series, value) rows; x a date (epoch ms on the wire) or a category
SERIES = {
    "traceloom-reconciliation": {
        "Open vs auto-synced by day": (
            "select reconciliation_date, 'open (manual review)', sum(manual_review_count) "
            "from marts.rpt_reconciliation_daily_totals group by all union all "
            "select reconciliation_date, 'auto-synced', sum(auto_sync_count) "
            "from marts.rpt_reconciliation_daily_totals group by all"
        ),
        "Discrepancies by kind and day": (
            "select reconciliation_date, unnest(['work order', 'inventory', 'labour']), "
            "unnest([sum(work_order_discrepancy_count), sum(inventory_discrepancy_count), "
            "sum(labor_discrepancy_count)]) from marts.rpt_reconciliation_daily_totals group by 1"
        ),
        "Work-order discrepancies by type and day": (
            "select reconciliation_date, discrepancy_type, count(*) "
            "from marts.rpt_work_order_reconciliation_daily group by all"
        ),
    },
    "traceloom-production": {
        "OEE by machine and day": (
            "select production_date, machine_id, avg(oee) from marts.fct_production_daily "
            "group by all"
        ),
        "Output and scrap by machine": (
            "select machine_id, unnest(['good units', 'scrap units']), "
            "unnest([sum(good_units), sum(scrap_units)]) from marts.fct_production_daily group by 1"
        ),
    },
    "traceloom-po-risk": {
        "Delay risk by supplier": (
            "select o.supplier, r.risk_level, count(*) from marts.fct_po_delay_risk r "
            "join marts.fct_purchase_orders o using (tenant_id, po_id) group by all"
        ),
        "Delay risk by origin port": (
            "select o.route_origin, r.risk_level, count(*) from marts.fct_po_delay_risk r "
            "join marts.fct_purchase_orders o using (tenant_id, po_id) group by all"
        ),
    },
}


# --- reading the page -------------------------------------------------------------------------


def _chart(page: Page, name: str):
    return page.locator(f'[data-test-chart-name="{name}"]')


def _big_number_text(page: Page, name: str) -> str | None:
    lines = [line for line in _chart(page, name).inner_text().splitlines() if line.strip()]
    return lines[-1].strip() if len(lines) > 1 else None


def _table_rows(page: Page, name: str) -> list[tuple[str, ...]]:
    return [
        tuple(cell.strip() for cell in row)
        for row in _chart(page, name)
        .locator("table tbody tr")
        .evaluate_all(
            "rows => rows.map(r => Array.from(r.querySelectorAll('td')).map(td => td.innerText))"
        )
    ]


def _received_series(data: dict) -> dict[tuple, float]:
    """``{(x, series): value}`` of a timeseries chart's data (one column per series)."""
    result = data["result"][0]
    x_column, *series = result["colnames"]
    return {
        (row[x_column], name): row[name]
        for row in result["data"]
        for name in series
        if row[name] is not None
    }


def _wait(what: str, ready: Callable[[], object], page: Page, shot: str):
    """Poll ``ready()`` until truthy (returns it); fail with a screenshot after the timeout."""
    deadline = time.monotonic() + RENDER_TIMEOUT_S
    while True:
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            path = _screenshot(page, f"{shot}_failure")
            pytest.fail(f"{what} not there after {RENDER_TIMEOUT_S} s (screenshot {path})")
        time.sleep(POLL_S)


def _screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"superset_{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _errors_on(page: Page) -> list[str]:
    return page.locator(".alert, [role=alert]").all_inner_texts()


# --- the tests --------------------------------------------------------------------------------

SLUGS = [d.slug for d in dashboards.DASHBOARDS]


@pytest.mark.parametrize("slug", SLUGS)
def test_dashboard_renders_the_marts_numbers(slug: str, superset, browser_page, data_dir):
    page, received = browser_page
    dashboard = next(d for d in dashboards.DASHBOARDS if d.slug == slug)
    names = {c.name for c in dashboard.charts}
    assert set(BIG_NUMBERS[slug]) | set(TABLES[slug]) | set(SERIES[slug]) == names, (
        "every chart of the dashboard is checked"
    )
    received.clear()
    page.goto(f"{superset['url']}/superset/dashboard/{slug}/")

    # Every chart queried (its data received) and drawn: Big Numbers' text, tables' rows, and
    # the canvas of each ECharts chart.
    def rendered() -> bool:
        got = {slice_id for slice_id, _ in received}
        ids = {
            el.get_attribute("data-test-chart-name"): int(el.get_attribute("data-test-chart-id"))
            for el in page.locator("[data-test-chart-id]").all()
        }
        if set(ids) != names or not set(ids.values()) <= got:
            return False
        return (
            all(_big_number_text(page, n) for n in BIG_NUMBERS[slug])
            and all(_table_rows(page, n) for n in TABLES[slug])
            and all(_chart(page, n).locator("canvas").count() for n in SERIES[slug])
        )

    _wait(f"every chart of {slug}", rendered, page, slug)
    _screenshot(page, slug)
    assert not _errors_on(page), _errors_on(page)

    for name, (mart, aggregate, where, fmt) in BIG_NUMBERS[slug].items():
        (expected,) = _lake_rows(data_dir, f"select {aggregate} from marts.{mart} where {where}")[0]
        assert _big_number_text(page, name) == _fmt(expected, fmt), name

    for name, (sql, formats) in TABLES[slug].items():
        expected = sorted(
            tuple(_fmt(v, f) for v, f in zip(row, formats, strict=True))
            for row in _lake_rows(data_dir, sql)
        )
        assert sorted(_table_rows(page, name)) == expected, name

    ids = {
        el.get_attribute("data-test-chart-name"): int(el.get_attribute("data-test-chart-id"))
        for el in page.locator("[data-test-chart-id]").all()
    }
    data_of = {slice_id: data for slice_id, data in received}
    for name, sql in SERIES[slug].items():
        expected = {
            (_epoch_ms(x) if not isinstance(x, str) else x, series): value
            for x, series, value in _lake_rows(data_dir, sql)
        }
        got = _received_series(data_of[ids[name]])
        assert got.keys() == expected.keys(), name
        for key, value in expected.items():
            assert got[key] == pytest.approx(value), (name, key)


def test_the_tenant_filter_narrows_every_chart_to_one_tenant(superset, browser_page, data_dir):
    page, received = browser_page
    tenant = dashboard_marts.TENANTS[1]
    (expected,) = _lake_rows(
        data_dir,
        f"select sum(units_produced) from marts.fct_production_daily where tenant_id = '{tenant}'",
    )[0]
    page.goto(f"{superset['url']}/superset/dashboard/traceloom-production/")
    _wait("the tenant filter", lambda: page.get_by_text("Tenant", exact=True).count(), page, "f")
    page.locator('[data-test="filterbar-panel"], [data-test="filter-bar"]').first.locator(
        ".ant-select-selector"
    ).first.click()
    page.get_by_title(tenant, exact=True).click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name=re.compile("apply filters", re.I)).click()
    _wait(
        f"Units produced of {tenant} only",
        lambda: _big_number_text(page, "Units produced") == _fmt(expected, ",d"),
        page,
        "tenant_filter",
    )
    _screenshot(page, "tenant_filter")


# --- no Superset needed: the bundle, its documentation, the exposures -------------------------


def test_the_committed_yaml_is_what_dashboards_py_writes():
    rendered = dashboards.render(dashboards.bundle())
    committed = {
        str(p.relative_to(dashboards.ASSETS)): p.read_text(encoding="utf-8")
        for p in dashboards.ASSETS.rglob("*.yaml")
    }
    assert committed == rendered, "run `python deploy/bi/dashboards.py` and commit deploy/bi/assets"


def test_every_dataset_and_column_carries_the_marts_documentation():
    docs = dashboards.mart_docs()
    for dataset in dashboards.DATASETS.values():
        doc = dashboards.dataset_yaml(dataset, docs)
        for mart in dataset.reads():
            assert docs[mart]["description"] in doc["description"], dataset.name
        assert doc["columns"] and all(c["description"] for c in doc["columns"]), dataset.name
        assert "tenant_id" in {c["column_name"] for c in doc["columns"]}, dataset.name


def test_every_dashboard_is_a_dbt_exposure_on_exactly_the_marts_it_reads():
    manifest = json.loads((PROJECT_ROOT / "dbt_project/target/manifest.json").read_text())
    exposures = {
        e["meta"]["superset_dashboard"]: e
        for e in manifest["exposures"].values()
        if e["type"] == "dashboard"
    }
    assert set(exposures) == set(SLUGS)
    for dashboard in dashboards.DASHBOARDS:
        exposure = exposures[dashboard.slug]
        models = {u.split(".")[-1] for u in exposure["depends_on"]["nodes"]}
        assert models == set(dashboard.marts()), dashboard.slug
        area = exposure["meta"]["mart_area"]
        assert exposure["owner"]["name"] == ownership.owners_of(f"marts_{area}")[0]
        assert exposure["label"] == dashboard.title and exposure["maturity"] == "high"


# --- the lake as Superset reads it: live, documented, locked down -----------------------------


def _api(superset: dict, user: str | None = None) -> requests.Session:
    """A session on Superset's REST API: JWT of the admin (or of the BI reader ``user``), and
    the CSRF token for SQL Lab."""
    session = requests.Session()
    login = session.post(
        f"{superset['url']}/api/v1/security/login",
        json={
            "username": user or superset["user"],
            "password": superset["readers"][user] if user else superset["password"],
            "provider": "db",
            "refresh": False,
        },
        timeout=60,
    )
    login.raise_for_status()
    session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    csrf = session.get(f"{superset['url']}/api/v1/security/csrf_token/", timeout=60)
    csrf.raise_for_status()
    session.headers.update({"X-CSRFToken": csrf.json()["result"], "Referer": superset["url"]})
    return session


def _dataset(session: requests.Session, superset: dict, name: str) -> dict:
    query = f"(filters:!((col:table_name,opr:eq,value:{name})))"
    found = session.get(f"{superset['url']}/api/v1/dataset/", params={"q": query}, timeout=60)
    found.raise_for_status()
    (dataset_id,) = [d["id"] for d in found.json()["result"]]
    detail = session.get(f"{superset['url']}/api/v1/dataset/{dataset_id}", timeout=60)
    detail.raise_for_status()
    return detail.json()["result"]


def _units_produced(session: requests.Session, superset: dict, dataset_id: int) -> float:
    body = {
        "datasource": {"id": dataset_id, "type": "table"},
        "queries": [
            {
                "metrics": [
                    {"expressionType": "SQL", "sqlExpression": "SUM(units_produced)", "label": "u"}
                ],
                "columns": [],
                "row_limit": 1,
            }
        ],
        "result_format": "json",
        "result_type": "full",
    }
    response = session.post(f"{superset['url']}/api/v1/chart/data", json=body, timeout=120)
    assert response.status_code == 200, response.text[:2000]
    return response.json()["result"][0]["data"][0]["u"]


def test_superset_reads_the_latest_snapshot_while_a_pipeline_commits(superset, data_dir):
    session = _api(superset)
    dataset = _dataset(session, superset, "fct_production_daily")
    before = _units_produced(session, superset, dataset["id"])
    assert (
        before
        == _lake_rows(data_dir, "select sum(units_produced) from marts.fct_production_daily")[0][0]
    )
    writer = connect(data_dir, read_only=False)
    try:  # a pipeline's commit, Superset still running: the next query sees it
        writer.execute(
            "insert into marts.fct_production_daily (tenant_id, machine_id, production_date, "
            "units_produced, oee) values ('acme-apparel', 'KN-99', date '2026-11-30', 1234, 0)"
        )
        assert _units_produced(session, superset, dataset["id"]) == before + 1234
    finally:
        writer.execute("delete from marts.fct_production_daily where machine_id = 'KN-99'")
        writer.close()
    assert _units_produced(session, superset, dataset["id"]) == before


def test_datasets_in_superset_carry_the_marts_documentation(superset):
    session = _api(superset)
    docs = dashboard_marts.contracts()["fct_production_daily"]
    dataset = _dataset(session, superset, "fct_production_daily")
    assert dataset["description"] == docs["description"]
    columns = {c["column_name"]: c["description"] for c in dataset["columns"]}
    assert columns == {name: text for name, (_, text) in docs["columns"].items()}


def _sql_lab(
    session: requests.Session, superset: dict, database_id: int | None = None
) -> Callable[[str], dict]:
    """A function running SQL in SQL Lab on the TraceLoom database (found through the
    session's datasets unless given), returning Superset's JSON answer (``data`` or
    ``errors``)."""
    if database_id is None:
        database_id = _dataset(session, superset, "fct_production_daily")["database"]["id"]

    def run(sql: str) -> dict:
        response = session.post(
            f"{superset['url']}/api/v1/sqllab/execute/",
            json={"database_id": database_id, "sql": sql, "runAsync": False},
            timeout=120,
        )
        return response.json()

    return run


def _assert_refused(run: Callable[[str], dict], refusals: dict[str, str]) -> None:
    """Each SQL of ``refusals`` returns no data and an error containing its text."""
    for sql, refusal in refusals.items():
        result = run(sql)
        assert "data" not in result, (sql, result)
        assert refusal in json.dumps(result.get("errors")), (sql, result)


def test_sql_lab_reads_the_marts_and_nothing_else(superset, data_dir):
    run = _sql_lab(_api(superset), superset)

    result = run("select count(*) as n from marts.fct_po_delay_risk")
    expected = _lake_rows(data_dir, "select count(*) from marts.fct_po_delay_risk")[0][0]
    assert result.get("data") == [{"n": expected}], result
    refusals = {
        # files outside the lake's data path
        "select * from read_csv('/etc/passwd')": "file system operations are disabled",
        # other databases
        f"attach '{data_dir}/other.duckdb' as other": "file system operations are disabled",
        # the lock itself
        "set enable_external_access = true": "the configuration has been locked",
        # writes: Superset refuses DML (and the lake is attached read-only)
        "delete from marts.fct_po_delay_risk": "does not allow for DDL/DML",
    }
    _assert_refused(run, refusals)
    assert _lake_rows(data_dir, "select count(*) from marts.fct_po_delay_risk")[0][0] == expected


# --- privacy (issue #16 §3): a tenant reader reads its tenant, masked; nothing else -------------


def test_a_tenant_reader_reads_its_own_tenant_masked_and_nothing_else(superset, data_dir):
    """Logged in as a reader of the first tenant, through Superset's API: a dashboard's dataset
    and SQL Lab give that tenant's rows only, employee ids as keyed pseudonyms; every hand-written
    way to the other tenant's rows or the unmasked lake fails or returns nothing."""
    own, other = dashboard_marts.TENANTS
    session = _api(superset, TENANT_READER)
    run = _sql_lab(session, superset)
    key = privacy.pii_hash_key(data_dir)

    # The same dashboards as everyone; their dataset: the tenant's total, not both tenants'.
    listed = session.get(f"{superset['url']}/api/v1/dashboard/", timeout=60).json()["result"]
    assert sorted(d["slug"] for d in listed) == sorted(SLUGS)
    dataset = _dataset(session, superset, "fct_production_daily")
    (own_units,) = _lake_rows(
        data_dir,
        f"select sum(units_produced) from marts.fct_production_daily where tenant_id = '{own}'",
    )[0]
    assert _units_produced(session, superset, dataset["id"]) == own_units

    # SQL Lab: the tenant's employees, masked.
    result = run("select tenant_id, employee_id, location, skill_count from marts.dim_employees")
    expected = [
        {
            "tenant_id": tenant,
            "employee_id": privacy.pseudonym(key, tenant, employee),
            "location": privacy.pseudonym(key, tenant, location),
            "skill_count": skills,
        }
        for tenant, employee, location, skills in _lake_rows(
            data_dir,
            "select tenant_id, employee_id, location, skill_count from marts.dim_employees "
            f"where tenant_id = '{own}'",
        )
    ]
    assert expected and sorted(result.get("data", []), key=str) == sorted(expected, key=str)
    assert not any(row["employee_id"].startswith("EMP-") for row in result["data"])

    # The other tenant: filtering on it finds nothing ...
    for sql in (
        f"select count(*) as n from marts.dim_employees where tenant_id = '{other}'",
        f"select count(*) as n from marts.fct_production_daily where tenant_id <> '{own}'",
    ):
        assert run(sql).get("data") == [{"n": 0}], sql
    # ... and every way around the views is refused.
    marts = data_dir / "marts"
    mart = marts / "dim_employees"
    version = mart.resolve()
    catalog = data_dir / "lake" / "catalog.sqlite"
    refusals = {
        f"select * from read_parquet('{mart}/tenant_id={other}/*.parquet')": "disabled",
        f"select * from read_parquet('{mart}/*/*.parquet')": "disabled",
        f"select * from read_parquet('{mart}/tenant_id={own}/../tenant_id={other}/*.parquet')": (
            "disabled"
        ),
        f"select * from read_parquet('{version}/tenant_id={other}/*.parquet')": "disabled",
        f"select * from glob('{marts}/*')": "disabled",
        f"attach 'ducklake:sqlite:{catalog}' as lake2 (read_only)": "disabled",
        f"attach '{catalog}' as c (type sqlite)": "disabled",
        "select * from lake.marts.dim_employees": "lake",
        "select * from raw.hr__employees": "hr__employees",
        "set enable_external_access = true": "the configuration has been locked",
        "set allowed_directories = ['/']": "the configuration has been locked",
        "load ducklake": "disabled",
        "select * from read_csv('/etc/passwd')": "disabled",
    }
    _assert_refused(run, refusals)


def test_a_privileged_reader_reads_every_tenant_unmasked(superset, data_dir):
    """The ``pii`` user (role TraceLoom PII) reads the lake itself: the raw employee ids of
    every tenant."""
    run = _sql_lab(_api(superset, PII_READER), superset)
    result = run("select tenant_id, employee_id from marts.dim_employees")
    expected = _lake_rows(data_dir, "select tenant_id, employee_id from marts.dim_employees")
    assert {tuple(row.values()) for row in result.get("data", [])} == set(expected)
    assert {tenant for tenant, _ in expected} == set(dashboard_marts.TENANTS)


def test_a_second_import_updates_the_charts_in_place(superset, data_dir, tmp_path):
    """``make bi`` re-imports on every start: a changed chart replaces its first version (a
    dashboard import alone would keep it), and nothing is duplicated. A BI user no longer in
    ``TRACELOOM_BI_USERS`` loses its TraceLoom roles, and with them every row (last in this
    module: the tenant reader reads nothing afterwards)."""
    assets = tmp_path / "assets"
    shutil.copytree(dashboards.ASSETS, assets)
    chart_file = next(assets.glob("charts/Units_produced.yaml"))
    chart = yaml.safe_load(chart_file.read_text())
    chart["description"] = "changed by the test"
    chart_file.write_text(yaml.safe_dump(chart))
    env = json.loads((data_dir / "bi" / "env.json").read_text())
    env["TRACELOOM_BI_USERS"] = env["TRACELOOM_BI_USERS"].split(",", 1)[1]  # the pii user only
    boot = subprocess.run(
        [BI_BIN / "python", BI_DIR / "bootstrap.py", "--assets", assets],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert boot.returncode == 0, f"bootstrap failed:\n{boot.stdout}\n{boot.stderr[-3000:]}"
    assert f"BI user '{TENANT_READER}' is no longer listed" in boot.stdout
    session = _api(superset)
    database_id = _dataset(session, superset, "fct_production_daily")["database"]["id"]
    former = _api(superset, TENANT_READER)
    listed = former.get(f"{superset['url']}/api/v1/dataset/", timeout=60).json()
    assert listed.get("count", 0) == 0, listed  # no dataset of the lake database any more
    refused = _sql_lab(former, superset, database_id)(
        "select count(*) as n from marts.dim_employees"
    )
    assert "data" not in refused and refused.get("errors"), refused
    charts = session.get(
        f"{superset['url']}/api/v1/chart/",
        params={"q": "(columns:!(slice_name,description),page_size:100)"},
        timeout=60,
    ).json()["result"]
    names = [c["slice_name"] for c in charts]
    assert sorted(names) == sorted(c.name for d in dashboards.DASHBOARDS for c in d.charts)
    assert {c["slice_name"]: c["description"] for c in charts}["Units produced"] == (
        "changed by the test"
    )
    listed = session.get(f"{superset['url']}/api/v1/dashboard/", timeout=60).json()["result"]
    assert sorted(d["slug"] for d in listed) == sorted(SLUGS)
