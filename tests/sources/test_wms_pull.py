"""WMS REST pull through the demo server on loopback into a real DuckDB file: stock levels by
location and the CDC events after a (timestamp, transaction id) high-water mark, advanced only
after landing, surviving faults with the landed rows equal to the source rows; an answer the
connector cannot page on is a protocol error (the tenant's pull check fails, not the step).
The change feed's path, protocol (high-water mark or the server's opaque cursor), cursor
parameter and response keys come from settings; a feed path that does not exist (404) is a
failed pull, not a failed step (issue #13)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from traceloom_pipelines.demo.serve import DemoServer, Faults, TenantWorld
from traceloom_pipelines.integration.breaker import reset_breakers
from traceloom_pipelines.landing.assets import PULL_CHECK, build_ingestion_asset
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.sources.wms.connector import (
    WmsApiResource,
    WmsPullError,
    wms_api_from_env,
)
from traceloom_pipelines.sources.wms.contract import stock_events, stock_levels

TENANT = "acme-apparel"


def _event(n: int, timestamp: str) -> dict:
    return {
        "event_type": "material.stock_updated",
        "timestamp": timestamp,
        "material_id": f"MAT-A-{n % 3:04d}",
        "field_changed": "on_hand_quantity",
        "old_value": 500 - n,
        "new_value": 499 - n,
        "change_reason": "consumption",
        "transaction_id": f"INV-TXN-{n:05d}",
    }


def _position(material: int, warehouse: str) -> dict:
    return {
        "material_id": f"MAT-A-{material:04d}",
        "part_number": f"A-{material:04d}",
        "warehouse": warehouse,
        "location": "Aisle 12, Bin 3A",
        "on_hand_quantity": 500,
        "allocated_quantity": 200,
        "available_quantity": 300,
        "unit_of_measure": "EA",
        "batch_details": [
            {"batch_number": "BATCH-20251115-01", "quantity": 250, "expiration_date": None},
            {"batch_number": "BATCH-20251116-02", "quantity": 250, "expiration_date": None},
        ],
        "last_updated": "2025-11-18T14:20:00Z",
    }


def _world() -> dict[str, TenantWorld]:
    # Events share timestamps in pairs: the transaction id orders them.
    events = [_event(n, f"2025-11-18T14:{25 + n // 2:02d}:30.123Z") for n in range(13)]
    levels = [_position(m, wh) for m in range(5) for wh in ("Plant1-WH", "Plant2-WH")]
    return {TENANT: TenantWorld(stock_levels=levels, stock_events=events)}


@pytest.fixture(autouse=True)
def _closed_breaker():
    reset_breakers("wms")
    yield
    reset_breakers("wms")


@pytest.fixture
def server():
    with DemoServer(_world()) as running:
        yield running


def _resource(server: DemoServer, **overrides) -> WmsApiResource:
    options = dict(
        base_url=f"{server.url}/{{tenant}}/wms/api/v1",
        tenants=TENANT,
        page_size=5,
        timeout_s=0.5,
        max_attempts=4,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
    )
    options.update(overrides)
    return WmsApiResource(**options)


def _materialize(data_dir: Path, entity, resource) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_ingestion_asset(entity, puller="wms_api")],
        resources={"warehouse": WarehouseResource(data_dir=str(data_dir)), "wms_api": resource},
        raise_on_error=False,
    )


def _pull_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == PULL_CHECK]
    return evaluation


def _query(data_dir: Path, sql: str) -> list[tuple]:
    con = connect(data_dir, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize(
    "faults", [Faults(fail_500=2), Faults(after=1, malformed=1), Faults(after=2, rate_limit=1)]
)
def test_events_pull_survives_faults_and_keeps_a_high_water_mark(
    tmp_path: Path, server: DemoServer, faults: Faults
):
    server.faults = faults
    assert _materialize(tmp_path, stock_events, _resource(server)).success
    assert _query(tmp_path, "select count(*) from raw.wms__stock_events") == [(13,)]
    (cursor,) = _query(tmp_path, "select cursor from audit.connector_state")[0]
    assert json.loads(cursor) == {
        "timestamp": "2025-11-18T14:31:30.123Z",
        "transaction_id": "INV-TXN-00012",
    }

    # New events arrive, one at the high-water mark's timestamp with a later transaction id.
    world = server.world[TENANT].stock_events
    world += [_event(13, "2025-11-18T14:31:30.123Z"), _event(14, "2025-11-18T14:40:00Z")]
    assert _materialize(tmp_path, stock_events, _resource(server)).success
    landed = _query(
        tmp_path, "select transaction_id from raw.wms__stock_events order by transaction_id"
    )
    assert [t for (t,) in landed] == [f"INV-TXN-{n:05d}" for n in range(15)]
    runs = _query(
        tmp_path,
        "select cursor_before is null, files_written, status from audit.connector_runs "
        "order by finished_at",
    )
    assert runs == [(True, 3, "landed"), (False, 1, "landed")]


def test_events_cursor_not_advanced_when_landing_fails(tmp_path: Path, server: DemoServer):
    # A broken raw table (tenant ids cannot be stored in it; one merely missing columns is
    # repaired by landing): landing fails after the pull.
    con = connect(tmp_path)
    con.execute("create schema raw; create table raw.wms__stock_events (tenant_id integer)")
    con.close()
    assert not _materialize(tmp_path, stock_events, _resource(server)).success
    assert _query(tmp_path, "select count(*) from audit.connector_state") == [(0,)]

    con = connect(tmp_path)
    con.execute("drop table raw.wms__stock_events")
    con.close()
    # The same window is pulled again: the same file names, every event landed once.
    assert _materialize(tmp_path, stock_events, _resource(server)).success
    assert _query(
        tmp_path, "select count(*), count(distinct transaction_id) from raw.wms__stock_events"
    ) == [(13, 13)]
    assert len(list((tmp_path / "landing" / TENANT / "wms/stock_events").iterdir())) == 3


def test_stock_levels_by_location_land_and_re_pull_is_a_no_op(tmp_path: Path, server: DemoServer):
    server.faults = Faults(fail_500=1, after=1)
    resource = _resource(server, locations="Plant1,Plant2")
    assert _materialize(tmp_path, stock_levels, resource).success
    assert _query(
        tmp_path, "select warehouse, count(*) from raw.wms__stock_levels group by 1 order by 1"
    ) == [("Plant1-WH", 5), ("Plant2-WH", 5)]
    assert _query(tmp_path, "select count(*) from raw.wms__stock_batches") == [(20,)]
    again = _materialize(tmp_path, stock_levels, _resource(server, locations="Plant1,Plant2"))
    metadata = again.asset_materializations_for_node("land_wms__stock_levels")[0].metadata
    assert metadata["files_skipped_already_landed"].value == 2
    assert metadata["rows_landed"].value == 0
    assert _query(tmp_path, "select count(*) from raw.wms__stock_levels") == [(10,)]


def test_open_breaker_rejects_the_pull_and_is_recorded(tmp_path: Path, server: DemoServer):
    server.faults = Faults(fail_500=100)
    resource = _resource(server, breaker_failure_threshold=3, breaker_cooldown_s=60)
    # A failed pull fails the pull check, not the step: downstream steps still run.
    first = _materialize(tmp_path, stock_events, resource)
    assert first.success
    sent = len(server.request_log)
    assert sent == 3  # the breaker opened at the third failure and stopped the retries
    second = _materialize(tmp_path, stock_events, _resource(server))
    assert second.success
    assert len(server.request_log) == sent  # rejected without a request
    for result in (first, second):
        check = _pull_check(result)
        assert not check.passed
        assert check.severity == dg.AssetCheckSeverity.ERROR
        assert check.metadata["failed_tenants"].value == TENANT
        failures = check.metadata["pull_failures"].value
        assert failures[TENANT]["failure_class"] == "breaker_open"
        assert (
            f"circuit breaker for 'wms/stock_events' (tenant {TENANT}) is open"
            in failures[TENANT]["error"]
        )
        assert result.asset_materializations_for_node("land_wms__stock_events")
    assert _query(tmp_path, "select count(*) from audit.connector_state") == [(0,)]
    runs = _query(
        tmp_path, "select status, breaker_state from audit.connector_runs order by finished_at"
    )
    assert runs == [("pull_failed", "open"), ("pull_failed", "open")]
    # the first run's call that opened the breaker, the second run's call it rejected
    letters = _query(
        tmp_path, "select error_class, attempts from audit.dead_letters order by attempts desc"
    )
    assert letters == [("breaker_open", 3), ("breaker_open", 0)]


def _pull_events(httpserver: HTTPServer, landing_root: Path, cursor: str | None = None):
    resource = WmsApiResource(
        base_url=httpserver.url_for("/{tenant}/wms"), tenants=TENANT, page_size=5, max_attempts=1
    )
    return resource.pull(
        entity=stock_events,
        landing_root=landing_root,
        tenant_id=TENANT,
        cursor=cursor,
        log=lambda _message: None,
    )


@pytest.mark.parametrize(
    ("answer", "cursor", "message"),
    [
        pytest.param({"data": []}, None, "no 'events' list", id="no-events-member"),
        pytest.param(
            {"events": [{"timestamp": "2025-11-18T14:25:30Z", "material_id": "MAT-A-0001"}]},
            None,
            "no high-water mark",
            id="last-event-without-transaction-id",
        ),
        pytest.param(
            {"events": [_event(1, "2025-11-18T14:00:00Z")], "has_more": False},
            json.dumps({"timestamp": "2025-11-18T14:30:00Z", "transaction_id": "INV-TXN-00009"}),
            "at or before the high-water mark",
            id="events-before-the-mark",
        ),
    ],
)
def test_an_events_answer_that_cannot_be_paged_on_is_a_protocol_error(
    httpserver: HTTPServer, tmp_path: Path, answer: dict, cursor: str | None, message: str
):
    httpserver.expect_request(f"/{TENANT}/wms/materials/stock-events").respond_with_json(answer)
    with pytest.raises(WmsPullError, match=message) as raised:
        _pull_events(httpserver, tmp_path / "landing", cursor)
    assert raised.value.error_class == "protocol"
    assert not (tmp_path / "landing").exists()  # nothing of that answer was written


# -- the change feed's configuration (issue #13 item 3) -------------------------------------------
FEED_PATH = "cdc/v2/stock-changes"


def _mark_feed(events: list[dict]):
    """A loopback handler of the ``mark`` protocol (``since``/``after``/``limit``) over
    ``events`` (in apply order)."""

    def handler(request: Request) -> Response:
        after = request.args.get("after")
        start = 0
        if after is not None:
            start = next(i for i, e in enumerate(events) if e["transaction_id"] == after) + 1
        limit = int(request.args["limit"])
        page = events[start : start + limit]
        body = {"events": page, "has_more": start + limit < len(events)}
        return Response(json.dumps(body), content_type="application/json")

    return handler


def _cursor_feed(events: list[dict], *, events_key: str, cursor_key: str, cursor_param: str):
    """A loopback handler of an opaque-cursor feed: the cursor is an offset the client cannot
    read (``opaque-<hex>~<offset as hex>``); the answer always names the position to resume
    from, also when caught up, as change feeds do."""
    seen: list[dict[str, str]] = []

    def token(offset: int) -> str:
        return f"opaque-{offset * 7919:x}~{offset:x}"

    def handler(request: Request) -> Response:
        seen.append(dict(request.args))
        sent = request.args.get(cursor_param)
        start = int(sent.rsplit("~", 1)[1], 16) if sent else 0
        page = events[start : start + int(request.args["limit"])]
        end = start + len(page)
        body = {events_key: page, cursor_key: token(end), "has_more": end < len(events)}
        return Response(json.dumps(body), content_type="application/json")

    return handler, seen, token


def _feed_resource(httpserver: HTTPServer, **overrides) -> WmsApiResource:
    options = dict(
        base_url=httpserver.url_for("/{tenant}/wms"),
        tenants=TENANT,
        page_size=5,
        max_attempts=1,
        events_path=FEED_PATH,
    )
    options.update(overrides)
    return WmsApiResource(**options)


def test_the_mark_protocol_reads_the_feed_at_the_configured_path(
    tmp_path: Path, httpserver: HTTPServer
):
    events = [_event(n, f"2025-11-18T14:{25 + n:02d}:30Z") for n in range(7)]
    httpserver.expect_request(f"/{TENANT}/wms/{FEED_PATH}").respond_with_handler(_mark_feed(events))
    result = _materialize(tmp_path, stock_events, _feed_resource(httpserver))
    assert result.success and _pull_check(result).passed
    assert _query(tmp_path, "select count(*) from raw.wms__stock_events") == [(7,)]
    (cursor,) = _query(tmp_path, "select cursor from audit.connector_state")[0]
    assert json.loads(cursor)["transaction_id"] == "INV-TXN-00006"
    paths = {request.path for request, _ in httpserver.log}
    assert paths == {f"/{TENANT}/wms/{FEED_PATH}"}  # never the built-in path


def test_an_opaque_cursor_feed_is_paged_and_its_cursor_stored_as_given(
    tmp_path: Path, httpserver: HTTPServer
):
    events = [_event(n, f"2025-11-18T14:{25 + n:02d}:30Z") for n in range(12)]
    handler, seen, token = _cursor_feed(
        events, events_key="changes", cursor_key="resume_token", cursor_param="from"
    )
    httpserver.expect_request(f"/{TENANT}/wms/{FEED_PATH}").respond_with_handler(handler)
    resource = dict(
        events_protocol="cursor",
        events_key="changes",
        events_cursor_key="resume_token",
        events_cursor_param="from",
    )
    assert _materialize(tmp_path, stock_events, _feed_resource(httpserver, **resource)).success
    assert [q.get("from") for q in seen] == [None, token(5), token(10)]
    assert _query(tmp_path, "select count(*) from raw.wms__stock_events") == [(12,)]
    assert _query(tmp_path, "select cursor from audit.connector_state") == [(token(12),)]

    # Later: two more events; the next run resumes at the stored cursor and lands only them.
    events += [_event(12, "2025-11-18T14:40:00Z"), _event(13, "2025-11-18T14:41:00Z")]
    seen.clear()
    again = _materialize(tmp_path, stock_events, _feed_resource(httpserver, **resource))
    assert again.success and _pull_check(again).passed
    assert [q.get("from") for q in seen] == [token(12)]
    landed = _query(tmp_path, "select transaction_id from raw.wms__stock_events order by 1")
    assert [t for (t,) in landed] == [f"INV-TXN-{n:05d}" for n in range(14)]
    assert _query(tmp_path, "select cursor from audit.connector_state") == [(token(14),)]
    runs = _query(
        tmp_path,
        "select cursor_before, cursor_after from audit.connector_runs order by 1 nulls first",
    )
    assert runs == [(None, token(12)), (token(12), token(14))]


def test_an_opaque_cursor_feed_with_default_names_stops_on_an_empty_page(httpserver, tmp_path):
    events = [_event(n, f"2025-11-18T14:{25 + n:02d}:30Z") for n in range(5)]
    handler, seen, token = _cursor_feed(
        events, events_key="events", cursor_key="next_cursor", cursor_param="cursor"
    )
    httpserver.expect_request(f"/{TENANT}/wms/materials/stock-events").respond_with_handler(
        lambda request: _without_has_more(handler(request))
    )
    resource = _feed_resource(
        httpserver, events_protocol="cursor", events_path="materials/stock-events"
    )
    batch = resource.pull(
        entity=stock_events, landing_root=tmp_path, tenant_id=TENANT, cursor=None, log=print
    )
    # no has_more: a full page (5 = limit) asks again and the empty page ends the pull
    assert [q.get("cursor") for q in seen] == [None, token(5)]
    assert (batch.next_cursor, batch.metadata["records"], len(batch.files)) == (token(5), 5, 1)


def _without_has_more(response: Response) -> Response:
    body = json.loads(response.get_data())
    body.pop("has_more")
    return Response(json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    ("answer", "cursor", "message"),
    [
        pytest.param(
            {"events": [_event(1, "2025-11-18T14:00:00Z")]},
            None,
            "no cursor to resume",
            id="events-without-a-cursor",
        ),
        pytest.param(
            {"events": [_event(1, "2025-11-18T14:00:00Z")], "next_cursor": "c1"},
            "c1",
            "repeats the cursor",
            id="cursor-repeats",
        ),
        pytest.param(
            {"events": [], "next_cursor": 42}, None, "not a non-empty text", id="cursor-not-text"
        ),
        pytest.param({"data": [], "next_cursor": "c2"}, None, "no 'events' list", id="no-events"),
    ],
)
def test_an_opaque_cursor_answer_that_cannot_be_resumed_is_a_protocol_error(
    httpserver: HTTPServer, tmp_path: Path, answer: dict, cursor: str | None, message: str
):
    httpserver.expect_request(f"/{TENANT}/wms/{FEED_PATH}").respond_with_json(answer)
    resource = _feed_resource(httpserver, events_protocol="cursor")
    with pytest.raises(WmsPullError, match=message) as raised:
        resource.pull(
            entity=stock_events,
            landing_root=tmp_path / "landing",
            tenant_id=TENANT,
            cursor=cursor,
            log=lambda _m: None,
        )
    assert raised.value.error_class == "protocol"
    assert not (tmp_path / "landing").exists()


def test_a_misconfigured_feed_path_is_a_failed_pull_not_a_failed_step(
    tmp_path: Path, server: DemoServer
):
    """The WMS serves its feed at ``materials/stock-events``; a deployment pointed elsewhere gets
    404: the step succeeds, the tenant's pull is recorded as failed (``client_error``) with a dead
    letter, no cursor is stored and the pull check fails."""
    resource = _resource(server, events_path="materials/stock-changes", max_attempts=2)
    result = _materialize(tmp_path, stock_events, resource)
    assert result.success
    check = _pull_check(result)
    assert (check.passed, check.severity, check.blocking) == (
        False,
        dg.AssetCheckSeverity.ERROR,
        False,
    )
    failure = check.metadata["pull_failures"].value[TENANT]
    assert failure["failure_class"] == "client_error"
    assert "404" in failure["error"] and "materials/stock-changes" in failure["error"]
    assert _query(tmp_path, "select status, error from audit.connector_runs")[0][0] == "pull_failed"
    assert _query(tmp_path, "select count(*) from audit.connector_state") == [(0,)]
    letters = _query(tmp_path, "select status, error_class, attempts, url from audit.dead_letters")
    assert [letter[:3] for letter in letters] == [(404, "client_error", 2)]  # 404: retried once
    assert letters[0][3].endswith(f"/{TENANT}/wms/api/v1/materials/stock-changes")
    assert [(path.split("?")[0], status) for _, path, status in server.request_log] == [
        (f"/{TENANT}/wms/api/v1/materials/stock-changes", 404)
    ] * 2


def test_feed_settings_from_the_environment_and_checked(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("TRACELOOM_WMS_API_URL", "https://wms.example.com/{tenant}")
    monkeypatch.setenv("TRACELOOM_WMS_API_EVENTS_PATH", "/cdc/v2/stock-changes")
    monkeypatch.setenv("TRACELOOM_WMS_API_EVENTS_PROTOCOL", "Cursor")
    monkeypatch.setenv("TRACELOOM_WMS_API_EVENTS_KEY", "changes")
    monkeypatch.setenv("TRACELOOM_WMS_API_EVENTS_CURSOR_KEY", "resume_token")
    monkeypatch.setenv("TRACELOOM_WMS_API_EVENTS_CURSOR_PARAM", "from")
    resource = wms_api_from_env()
    assert (
        resource.events_path,
        resource.events_protocol,
        resource.events_key,
        resource.events_cursor_key,
        resource.events_cursor_param,
    ) == ("/cdc/v2/stock-changes", "cursor", "changes", "resume_token", "from")
    for name in [n for n in os.environ if n.startswith("TRACELOOM_WMS_API_EVENTS")]:
        monkeypatch.delenv(name)
    default = wms_api_from_env()
    assert (default.events_path, default.events_protocol) == ("materials/stock-events", "mark")

    def pull(resource: WmsApiResource, cursor: str | None = None):
        return resource.pull(
            entity=stock_events,
            landing_root=tmp_path,
            tenant_id=TENANT,
            cursor=cursor,
            log=lambda _m: None,
        )

    with pytest.raises(ValueError, match="TRACELOOM_WMS_API_EVENTS_PROTOCOL"):
        pull(WmsApiResource(base_url="http://x", tenants=TENANT, events_protocol="kafka"))
    with pytest.raises(ValueError, match="events_path"):
        pull(WmsApiResource(base_url="http://x", tenants=TENANT, events_path=" / "))
    mark = json.dumps({"timestamp": "2025-11-18T14:25:30Z", "transaction_id": "INV-TXN-1"})
    with pytest.raises(ValueError, match="high-water mark of the 'mark' protocol"):
        pull(WmsApiResource(base_url="http://x", tenants=TENANT, events_protocol="cursor"), mark)
    with pytest.raises(ValueError, match="not a high-water mark"):
        pull(WmsApiResource(base_url="http://x", tenants=TENANT), "opaque-1f~1")
