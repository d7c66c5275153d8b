"""The browser test (issue 4 §3): a backfill of three daily partitions launched from the Dagster UI.

Headless Debian Chromium (``/usr/bin/chromium``, installed by ``make browser``; never
``playwright install``) driven by Playwright opens the UI of the shared production deployment
(conftest.py: webserver + daemon on PostgreSQL), finds ``marts/fct_production_daily`` in its
group's asset graph, opens "Materialize selected…", types three UTC days of the demo world's
30-day history into the partition selection and launches the backfill. The test then watches the
backfill's page until the daemon has finished it and checks through the instance that the
backfill's runs succeeded and materialized exactly those three partitions of that one asset, that
the neighbouring days still carry the main job's materialization, and that the mart's rows per
day are the same as before (the days rebuilt from unchanged data, every other day untouched).

Screenshots (asset graph, launch dialog, finished backfill, and the page on a failure) are
written to ``tests/artifacts/`` (gitignored). A missing Chromium fails the test; it never skips.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
)
from dagster._core.execution.backfill import BulkActionStatus
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect, sync_playwright

from tests.deploy.support import (
    LOCATION,
    Deployment,
    run_errors,
    stop_instigators,
    wait_until_idle,
)
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.partitions import PARTITION_FORMAT, RANGE_END_TAG, RANGE_START_TAG
from traceloom_pipelines.resources import PROJECT_ROOT

pytestmark = [
    pytest.mark.slow,
    # dagster_graphql's client (launching the main job when it has not run yet) calls gql with
    # arguments gql deprecates.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gql"),
]

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package `chromium`
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"

GROUP = "marts_production"
ASSET_KEY = AssetKey(["marts", "fct_production_daily"])
DAY_COLUMN = "production_date"
# The backfill: three consecutive UTC days inside the demo world's 30 days before as_of (today
# 00:00 UTC), away from today and yesterday, which the cadence runs refresh.
BACKFILL_DAYS = 3
HISTORY_DAYS = 30

UI_TIMEOUT_MS = 90_000  # one page or dialog to render (the machine is shared and slow)
BACKFILL_TIMEOUT_MS = 10 * 60_000  # the daemon launching the backfill's run and it finishing
POLL_MS = 3_000


def _pick_days(rows_per_day: dict[str, int], today: date) -> list[str]:
    """The window of ``BACKFILL_DAYS`` consecutive days (``YYYY-MM-DD``) between ``today -
    HISTORY_DAYS`` and the day before yesterday holding the most days with rows in the mart
    (the latest such window on a tie), so the backfill rebuilds real data. The tiny demo world
    has production on some days only."""
    windows = []
    for end_back in range(2, HISTORY_DAYS - BACKFILL_DAYS + 2):
        days = [
            (today - timedelta(days=end_back + n)).strftime(PARTITION_FORMAT)
            for n in reversed(range(BACKFILL_DAYS))
        ]
        windows.append((sum(1 for d in days if rows_per_day.get(d)), -end_back, days))
    return max(windows)[2]


def _rows_per_day(deploy: Deployment) -> dict[str, int]:
    """Rows of the mart per UTC day (``YYYY-MM-DD`` -> count), read-only."""
    con = connect(deploy.data_dir, read_only=True)
    try:
        rows = con.execute(
            f"select strftime({DAY_COLUMN}, '%Y-%m-%d'), count(*) "
            f"from {'.'.join(ASSET_KEY.path)} group by all"
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def _screenshot(page: Page, name: str) -> Path:
    path = ARTIFACTS / f"ui_backfill_{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _launch_backfill(page: Page, deploy: Deployment, days: list[str], shots: list[Path]) -> str:
    """Asset graph -> select the asset -> Materialize -> three partitions -> Launch backfill.
    Returns the backfill id the UI reports."""
    # A fresh instance greets the first visitor with a newsletter dialog; skip it whenever shown.
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda: page.get_by_role("button", name="Skip").click(),
    )
    page.goto(f"{deploy.url}/locations/{LOCATION}/asset-groups/{GROUP}")
    node = page.get_by_text(ASSET_KEY.path[-1], exact=True).first
    expect(node).to_be_visible()
    # Selects it in the graph and opens its sidebar. A click event on the node itself, not a
    # click at its position: the group's layout can put the node's title under the graph's
    # toolbar, which then takes a positional click (Playwright retries it until it times out).
    node.dispatch_event("click")
    materialize = page.get_by_role("button", name=re.compile(r"Materialize selected"))
    expect(materialize).to_be_enabled()
    shots.append(_screenshot(page, "1_asset_graph"))
    materialize.click()

    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Launch runs to materialize {' / '.join(ASSET_KEY.path)}")
    selection = dialog.get_by_placeholder("No matching partitions")
    selection.fill(f"[{days[0]}...{days[-1]}]")
    selection.press("Enter")
    expect(dialog).to_contain_text(f"{len(days)} partitions")
    expect(dialog).not_to_contain_text("backfill daemon is not running")
    shots.append(_screenshot(page, "2_launch_dialog"))
    dialog.get_by_role("button", name="Launch backfill").click()

    view = page.locator('a[href*="/runs/b/"]').first
    expect(view).to_be_visible()
    backfill_id = view.get_attribute("href").rstrip("/").rsplit("/", 1)[-1]
    view.click()
    expect(page).to_have_url(re.compile(rf"/runs/b/{backfill_id}"))
    return backfill_id


def _wait_for_backfill(page: Page, instance: DagsterInstance, backfill_id: str) -> BulkActionStatus:
    """Poll the backfill page and the instance until the backfill is in a terminal state (or the
    time is up); once it succeeded, the page must show it: status "Succeeded", the asset's
    partitions "100% completed". Returns the last status."""
    deadline = datetime.now(UTC) + timedelta(milliseconds=BACKFILL_TIMEOUT_MS)
    status = instance.get_backfill(backfill_id).status
    while datetime.now(UTC) < deadline:
        status = instance.get_backfill(backfill_id).status
        if status in (
            BulkActionStatus.COMPLETED,
            BulkActionStatus.COMPLETED_SUCCESS,
            BulkActionStatus.COMPLETED_FAILED,
            BulkActionStatus.FAILED,
            BulkActionStatus.CANCELED,
        ):
            break
        expect(page.get_by_text(backfill_id).first).to_be_visible()
        page.wait_for_timeout(POLL_MS)
    if status == BulkActionStatus.COMPLETED_SUCCESS:
        page.reload()
        expect(page.get_by_text("Succeeded", exact=True).first).to_be_visible()
        expect(page.get_by_text("100% completed", exact=True)).to_be_visible()
    return status


def test_browser_backfills_three_daily_partitions_from_the_ui(
    deployment: Deployment, instance: DagsterInstance, main_job_succeeded: str, tmp_path
):
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make browser` installs Debian's chromium "
            "(apt-get install chromium)",
            pytrace=False,
        )
    # A quiet instance: no schedule or drop sensor launching runs, none in flight (they would
    # queue ahead of the backfill for the warehouse slot and hold the DuckDB file).
    stop_instigators(deployment, instance)
    wait_until_idle(deployment, instance)
    before = _rows_per_day(deployment)
    days = _pick_days(before, datetime.now(UTC).date())
    if not any(before.get(day) for day in days):
        deployment.fail(
            f"{ASSET_KEY.to_user_string()} has no rows in the last {HISTORY_DAYS} days: {before}"
        )

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.glob("ui_backfill_*.png"):  # a previous run's, failure shot included
        stale.unlink()
    shots: list[Path] = []
    backfill_id = None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
        )
        page = browser.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        try:
            backfill_id = _launch_backfill(page, deployment, days, shots)
            status = _wait_for_backfill(page, instance, backfill_id)
            shots.append(_screenshot(page, "3_backfill_finished"))
        except (PlaywrightError, AssertionError) as exc:
            shot = _screenshot(page, "failure")
            deployment.fail(
                f"browser step failed on {page.url} (screenshot {shot}): {exc}\n"
                + (_backfill_report(instance, backfill_id) if backfill_id else "no backfill")
            )
        finally:
            browser.close()

    if status != BulkActionStatus.COMPLETED_SUCCESS:
        deployment.fail(
            f"backfill {backfill_id} is {status.value}, not COMPLETED_SUCCESS "
            f"(screenshots {[str(s) for s in shots]}):\n{_backfill_report(instance, backfill_id)}"
        )

    # The backfill the UI launched is the one asked for: that asset, those three partitions...
    backfill = instance.get_backfill(backfill_id)
    assert backfill.asset_backfill_data is not None, f"{backfill_id} is not an asset backfill"
    assert {
        (target.asset_key, target.partition_key)
        for target in backfill.asset_backfill_data.target_subset.iterate_asset_partitions()
    } == {(ASSET_KEY, day) for day in days}

    # ... its runs (one, by the single-run backfill policy) succeeded over that range ...
    runs = instance.get_runs(RunsFilter.for_backfill(backfill_id))
    assert runs, f"backfill {backfill_id} launched no run"
    for run in runs:
        assert run.status == DagsterRunStatus.SUCCESS, run_errors(instance, run.run_id)
    assert [(r.tags.get(RANGE_START_TAG), r.tags.get(RANGE_END_TAG)) for r in runs] == [
        (days[0], days[-1])
    ]

    # ... and materialized exactly those partitions of that asset, nothing else.
    materialized = {
        (entry.dagster_event.asset_key, entry.dagster_event.partition)
        for run in runs
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    }
    assert materialized == {(ASSET_KEY, day) for day in days}

    # The neighbouring days were left alone: their latest materialization is still the main
    # job's, not the backfill's ...
    backfill_runs = {r.run_id for r in runs}
    first, last = (datetime.strptime(d, PARTITION_FORMAT).date() for d in (days[0], days[-1]))
    for neighbour in (first - timedelta(days=1), last + timedelta(days=1)):
        key = neighbour.strftime(PARTITION_FORMAT)
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=ASSET_KEY, asset_partitions=[key]), limit=1
        ).records
        assert records, f"partition {key} was never materialized"
        assert records[0].run_id not in backfill_runs, f"the backfill rewrote partition {key}"

    # ... and the mart has the same rows per day as before: the three days rebuilt from the same
    # data, every other day untouched.
    assert _rows_per_day(deployment) == before


def _backfill_report(instance: DagsterInstance, backfill_id: str) -> str:
    """The backfill's status and error, and each of its runs with status and errors."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        return f"backfill {backfill_id}: not in the instance"
    lines = [f"backfill {backfill_id}: {backfill.status.value}"]
    if backfill.error is not None:
        lines.append(backfill.error.to_string()[-3000:])
    for run in instance.get_runs(RunsFilter.for_backfill(backfill_id)):
        lines.append(f"run {run.run_id} ({run.job_name}): {run.status.value} {run.tags}")
        if run.status != DagsterRunStatus.SUCCESS:
            lines.append(run_errors(instance, run.run_id))
    return "\n".join(lines)
