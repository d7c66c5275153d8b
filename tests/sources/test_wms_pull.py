"""WMS REST pull through the demo server on loopback into a real DuckDB file: stock levels by
location and the CDC events after a (timestamp, transaction id) high-water mark, advanced only
after landing, surviving faults with the landed rows equal to the source rows; an answer the
connector cannot page on is a protocol error (the tenant's pull check fails, not the step)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from traceloom_pipelines.demo.serve import DemoServer, Faults, TenantWorld
from traceloom_pipelines.integration.breaker import breaker_for
from traceloom_pipelines.landing.assets import PULL_CHECK, build_ingestion_asset
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.sources.wms.connector import WmsApiResource, WmsPullError
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
    breaker_for("wms").record_success()
    yield
    breaker_for("wms").record_success()


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
    con = connect(tmp_path)
    con.execute("create schema raw; create table raw.wms__stock_events (tenant_id varchar)")
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
        assert failures[TENANT]["failure_class"] == "circuit_open"
        assert "circuit breaker for 'wms' is open" in failures[TENANT]["error"]
        assert result.asset_materializations_for_node("land_wms__stock_events")
    assert _query(tmp_path, "select count(*) from audit.connector_state") == [(0,)]
    runs = _query(
        tmp_path, "select status, breaker_state from audit.connector_runs order by finished_at"
    )
    assert runs == [("pull_failed", "open"), ("pull_failed", "open")]
    (error_class,) = _query(tmp_path, "select error_class from audit.dead_letters")[0]
    assert error_class == "circuit_open"


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
