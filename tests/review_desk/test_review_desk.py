"""The review desk (issue #13 §7) in headless Chromium over a real lake and real HTTP.

A tiny lake: MES machine registry drops of two tenants are landed with the real loader (one
valid and two quarantined records for acme, one quarantined for blue), and acme gets one HR
dead letter 30 hours old with a pull of 10 requests. `traceloom review-desk` then runs as a
subprocess on a loopback port with one user per tenant, and Debian's Chromium
(``/usr/bin/chromium``; never ``playwright install``) signs in with HTTP Basic and checks:
only the user's tenant is listed; the filters; edit and retry drops the corrected record as a
new drop file that lands through the normal loader and then shows as landed; a plain retry is
read again by landing (not skipped as a duplicate); resolve and discard are audited with actor
and UTC time; failure rate and mean time to resolution per integration; another tenant's pages
and actions are 403, no credentials 401, a form without its token 400.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from tests.gateway.support import free_port
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import lake_connection, run
from traceloom_pipelines.resources import PROJECT_ROOT
from traceloom_pipelines.review_desk.auth import USERS_ENV, hash_password
from traceloom_pipelines.sources.mes.contract import machines

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package `chromium`
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
TIMEOUT_MS = 20_000

ACME, BLUE = "acme-apparel", "blue-fabrics"
USERS = {"ada": (ACME, "ada-Secret-1"), "bo": (BLUE, "bo-Secret-2")}
GOOD = {"machine_id": "M-1", "factory": "F1", "ideal_cycle_time_seconds": 30}
NEGATIVE = {"machine_id": "M-2", "factory": "F1", "ideal_cycle_time_seconds": -5}
NO_FACTORY = {"machine_id": "M-3", "ideal_cycle_time_seconds": 12}
BLUE_BAD = {"machine_id": "B-9", "factory": "F9", "ideal_cycle_time_seconds": -1}


def _drop(landing: Path, tenant: str, name: str, records: list[dict]) -> None:
    folder = landing / tenant / "mes" / "machines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _land(data_dir: Path) -> None:
    with lake_connection(data_dir) as con:
        land_entity(con, machines, data_dir / "landing")


def _query(data_dir: Path, sql: str, params: object = None) -> list[tuple]:
    with lake_connection(data_dir, read_only=True) as con:
        return run(con, sql, params)


def _build_lake(data_dir: Path) -> None:
    landing = data_dir / "landing"
    _drop(landing, ACME, "machines-1.jsonl", [GOOD, NEGATIVE, NO_FACTORY])
    _drop(landing, BLUE, "machines-1.jsonl", [BLUE_BAD])
    _land(data_dir)
    failed_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=30)
    with lake_connection(data_dir) as con:
        run(
            con,
            "insert into audit.dead_letters values ('hr', 'employees', ?, "
            "'http://hr.example/api/employees', '{\"page\": 3}', 503, 'http_5xx', "
            "'Service Unavailable', 'upstream down', 5, ?, 'run-1')",
            [ACME, failed_at],
        )
        run(
            con,
            "insert into audit.connector_runs values ('hr', 'employees', ?, 'run-1', ?, ?, "
            "'pull_failed', null, null, 0, 10, 4, 1, 'closed', 0, 'HTTP 503')",
            [ACME, failed_at, failed_at],
        )


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """The lake built above and `traceloom review-desk` serving it; yields (url, data_dir)."""
    data_dir = tmp_path_factory.mktemp("desk") / "data"
    _build_lake(data_dir)
    port = free_port()
    env = dict(os.environ)
    env[USERS_ENV] = ",".join(
        f"{name}:{tenant}:{hash_password(password)}" for name, (tenant, password) in USERS.items()
    )
    log_path = data_dir.parent / "desk.log"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "traceloom_pipelines.cli", "--data-dir", str(data_dir)]
            + ["review-desk", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(url + "/healthz", timeout=5).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"review desk did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    yield url, data_dir
    process.terminate()
    process.wait(timeout=20)
    log_text = log_path.read_text()
    for _name, (_tenant, password) in USERS.items():
        assert password not in log_text  # secrets never logged


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _page(browser, user: str) -> Page:
    context = browser.new_context(
        http_credentials={"username": user, "password": USERS[user][1]},
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def _keys(page: Page) -> dict[str, str]:
    """item key → its row's text, of the queue table on the page."""
    rows = page.locator("#items tr[data-key]")
    return {
        rows.nth(i).get_attribute("data-key"): rows.nth(i).inner_text() for i in range(rows.count())
    }


def _key_of(page: Page, text: str) -> str:
    matches = [key for key, row in _keys(page).items() if text in row]
    assert len(matches) == 1, (text, _keys(page))
    return matches[0]


def _actions(data_dir: Path) -> list[tuple]:
    return _query(
        data_dir,
        "select item_kind, action, actor, acted_at, note, drop_file, tenant_id "
        "from audit.review_actions order by acted_at",
    )


def test_credentials_are_required(desk):
    url, _ = desk
    assert requests.get(url + f"/tenants/{ACME}", timeout=30).status_code == 401
    wrong = requests.get(url + f"/tenants/{ACME}", auth=("ada", "nope"), timeout=30)
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Basic ")
    assert requests.get(url + "/", auth=("nobody", "x"), timeout=30).status_code == 401


def test_the_desk_in_chromium(desk, browser):
    url, data_dir = desk
    page = _page(browser, "ada")
    page.goto(url + "/")
    expect(page.locator("#user")).to_have_text("ada")
    assert page.url == f"{url}/tenants/{ACME}"
    queue = _keys(page)
    assert len(queue) == 3  # two quarantined machines and one dead letter; none of blue's
    assert all("B-9" not in row for row in queue.values())
    negative = _key_of(page, "ideal_cycle_time_seconds:non_negative")
    no_factory = _key_of(page, "factory:not_nullable")
    dead = _key_of(page, "http_5xx")
    assert all("pending" in row for row in queue.values())

    # filters: kind, reason, age, source
    page.select_option("select[name=kind]", "quarantine")
    page.click("#filters button")
    expect(page.locator("#items tr[data-key]")).to_have_count(2)
    page.goto(f"{url}/tenants/{ACME}?reason=NON_NEGATIVE")
    assert set(_keys(page)) == {negative}
    page.goto(f"{url}/tenants/{ACME}?older_than_hours=24")
    assert set(_keys(page)) == {dead}
    page.goto(f"{url}/tenants/{ACME}?source=hr&entity=employees")
    assert set(_keys(page)) == {dead}

    # another tenant's queue and item: 403
    assert page.goto(f"{url}/tenants/{BLUE}").status == 403
    assert page.goto(f"{url}/tenants/{BLUE}/items/{negative}").status == 403
    # the right tenant, another tenant's key: not found
    blue = _page(browser, "bo")
    blue.goto(url + "/")
    (blue_key,) = _keys(blue)
    assert page.goto(f"{url}/tenants/{ACME}/items/{blue_key}").status == 404

    # edit and retry: a broken edit is refused and writes nothing
    machines_dir = data_dir / "landing" / ACME / "mes" / "machines"
    page.goto(f"{url}/tenants/{ACME}/items/{negative}")
    expect(page.locator("#status")).to_contain_text("pending")
    assert json.loads(page.locator("#record").input_value()) == NEGATIVE
    page.fill("#record", '["not", "an object"]')
    page.click("#do-edit-retry")
    expect(page.locator("#error")).to_contain_text("one JSON object")
    assert sorted(p.name for p in machines_dir.iterdir()) == ["machines-1.jsonl"]
    corrected = dict(NEGATIVE, ideal_cycle_time_seconds=5)
    page.fill("#record", json.dumps(corrected, indent=2))
    page.fill("#form-edit-retry input[name=note]", "sign flipped at the source")
    page.click("#do-edit-retry")
    expect(page.locator("#message")).to_contain_text("Corrected record dropped")
    expect(page.locator("#status")).to_contain_text("retried — waiting for the next landing")
    (drop,) = [p for p in machines_dir.iterdir() if p.name.startswith("desk-")]
    assert drop.suffix == ".jsonl" and not drop.name.endswith(".part")
    assert [json.loads(line) for line in drop.read_text().splitlines()] == [
        {"machines": [corrected]}
    ]
    _land(data_dir)
    landed = _query(
        data_dir,
        "select tenant_id, ideal_cycle_time_seconds, _source_file from raw.mes__machines "
        "where machine_id = 'M-2'",
    )
    assert landed == [(ACME, 5.0, f"{ACME}/mes/machines/{drop.name}")]
    page.reload()
    expect(page.locator("#status")).to_contain_text("retried — landed")
    expect(page.locator("#history")).to_contain_text("sign flipped at the source")

    # a plain retry is read again by landing (not skipped as already quarantined)
    page.goto(f"{url}/tenants/{ACME}/items/{no_factory}")
    page.click("#do-retry")
    expect(page.locator("#message")).to_contain_text("Retried")
    _land(data_dir)
    page.reload()
    expect(page.locator("#status")).to_contain_text("quarantined again")
    page.goto(f"{url}/tenants/{ACME}?kind=quarantine&status=pending")
    (again,) = _keys(page)  # the re-drop's quarantine row is a new, pending item
    assert again not in (negative, no_factory)

    # resolve the dead letter, discard the re-quarantined record
    before = datetime.now(UTC).replace(tzinfo=None)
    page.goto(f"{url}/tenants/{ACME}/items/{dead}")
    page.fill("#form-resolve input[name=note]", "HR API back up")
    page.click("#do-resolve")
    expect(page.locator("#status")).to_contain_text("resolved")
    page.goto(f"{url}/tenants/{ACME}/items/{again}")
    page.click("#do-discard")
    expect(page.locator("#status")).to_contain_text("discarded")
    after = datetime.now(UTC).replace(tzinfo=None)
    rows = _actions(data_dir)
    assert [(r[0], r[1], r[2], r[6]) for r in rows] == [
        ("quarantine", "edit_retry", "ada", ACME),
        ("quarantine", "retry", "ada", ACME),
        ("dead_letter", "resolve", "ada", ACME),
        ("quarantine", "discard", "ada", ACME),
    ]
    assert all(before <= r[3] <= after for r in rows[2:])  # acted_at is UTC
    assert rows[2][4] == "HR API back up" and rows[3][5] is None
    expect(page.locator("#history")).to_contain_text(f"{after:%Y-%m-%d}")

    # metrics: failure rate and mean time to resolution by integration
    page.goto(f"{url}/tenants/{ACME}")
    hr = page.locator('#metrics tr[data-integration="hr/employees"]')
    expect(hr.locator(".rate")).to_have_text("10.0 %")  # 1 dead letter / 10 requests
    assert 29.9 < float(hr.locator(".mttr").inner_text()) < 31  # failed 30 h before resolve
    mes = page.locator('#metrics tr[data-integration="mes/machines"]')
    # read 3 + 1 + 1 records, quarantined 2 + 1 (the re-dropped record quarantined again)
    expect(mes.locator(".rate")).to_have_text("60.0 %")
    assert float(mes.locator(".mttr").inner_text()) < 1

    # a dead letter's window is replayed by the next pull that lands (it starts from the cursor
    # the failed pull left)
    page.goto(f"{url}/tenants/{ACME}/items/{dead}")
    expect(page.locator("#status")).to_have_text("resolved")
    with lake_connection(data_dir) as con:
        run(
            con,
            "insert into audit.connector_runs values ('hr', 'employees', ?, 'run-2', ?, ?, "
            "'landed', null, 'c2', 1, 2, 0, 0, 'closed', 0, null)",
            [ACME, after, after],
        )
    page.reload()
    expect(page.locator("#status")).to_have_text("resolved — replayed by a later pull (run run-2)")
    blue.context.close()
    page.context.close()


def test_actions_on_another_tenant_or_without_the_form_token_are_refused(desk, browser):
    url, data_dir = desk
    page = _page(browser, "bo")
    page.goto(url + "/")
    (blue_key,) = _keys(page)
    before = _actions(data_dir)
    ada = ("ada", USERS["ada"][1])
    form = {"csrf": "x", "note": "n"}
    forbidden = requests.post(
        f"{url}/tenants/{BLUE}/items/{blue_key}/discard", data=form, auth=ada, timeout=30
    )
    assert forbidden.status_code == 403
    bo = ("bo", USERS["bo"][1])
    no_token = requests.post(
        f"{url}/tenants/{BLUE}/items/{blue_key}/discard", data={"note": "n"}, auth=bo, timeout=30
    )
    assert no_token.status_code == 400
    assert _actions(data_dir) == before
    page.goto(f"{url}/tenants/{BLUE}/items/{blue_key}")
    page.click("#do-discard")
    expect(page.locator("#status")).to_contain_text("discarded")
    assert [(r[1], r[2], r[6]) for r in _actions(data_dir)[len(before) :]] == [
        ("discard", "bo", BLUE)
    ]
    page.context.close()
