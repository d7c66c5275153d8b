"""fct_integration_health built by real dbt on a warehouse written by real pulls and landings:
one healthy pull, one whose breaker opened, dead letters counted over the last 24 hours
(003 §8.1); paths landing skipped and CSV columns no contract reads (issue #12 §3-§4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from tests.landing.test_skipped_and_drift import MATERIAL
from traceloom_pipelines.bridges.health import HealthSamples, utc_iso
from traceloom_pipelines.dbt_targets import run_dbt
from traceloom_pipelines.demo.serve import DemoServer, Faults, TenantWorld
from traceloom_pipelines.integration.breaker import reset_breakers
from traceloom_pipelines.landing.assets import PULL_CHECK, build_ingestion_asset
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.sources.bridges.contract import ENTITIES as BRIDGES_ENTITIES
from traceloom_pipelines.sources.dagster.contract import ENTITIES as DAGSTER_ENTITIES
from traceloom_pipelines.sources.erp.contract import materials
from traceloom_pipelines.sources.wms.connector import WmsApiResource
from traceloom_pipelines.sources.wms.contract import stock_events

EVENT = {
    "event_type": "material.stock_updated",
    "timestamp": "2025-11-18T14:25:30.123Z",
    "material_id": "MAT-A-1234",
    "field_changed": "on_hand_quantity",
    "old_value": 500,
    "new_value": 450,
    "change_reason": "consumption",
    "transaction_id": "INV-TXN-78956",
}


def test_integration_health_reports_lag_dead_letters_and_breaker(tmp_path: Path):
    reset_breakers("wms")
    world = {"good": TenantWorld(stock_events=[EVENT]), "bad": TenantWorld(stock_events=[EVENT])}
    with DemoServer(world) as server:

        def pull(tenant: str) -> dg.ExecuteInProcessResult:
            resource = WmsApiResource(
                base_url=f"{server.url}/{{tenant}}/wms/api/v1",
                tenants=tenant,
                max_attempts=2,
                backoff_initial_s=0.01,
                breaker_failure_threshold=2,
            )
            return dg.materialize(
                [build_ingestion_asset(stock_events, puller="wms_api")],
                resources={
                    "warehouse": WarehouseResource(data_dir=str(tmp_path)),
                    "wms_api": resource,
                },
                raise_on_error=False,
            )

        good = pull("good")
        server.faults = Faults(fail_500=10)
        bad = pull("bad")
    # A failed pull does not fail the step (downstream steps run); it fails the pull check.
    assert good.success and bad.success
    checks = {
        name: next(e for e in result.get_asset_check_evaluations() if e.check_name == PULL_CHECK)
        for name, result in (("good", good), ("bad", bad))
    }
    assert checks["good"].passed
    assert not checks["bad"].passed
    assert checks["bad"].severity == dg.AssetCheckSeverity.ERROR
    assert checks["bad"].metadata["failed_tenants"].value == "bad"
    reset_breakers("wms")
    con = connect(tmp_path)
    for entity in (*DAGSTER_ENTITIES, *BRIDGES_ENTITIES):  # platform tables the mart reads
        land_entity(con, entity, tmp_path / "landing")
    con.close()

    _build_mart(tmp_path)
    con = connect(tmp_path, read_only=True)
    rows = con.execute(
        "select tenant_id, rows_landed_24h, pulls_24h, failed_pulls_24h, dead_letters_24h, "
        "breaker_state, last_pull_status, health_status, landing_lag_seconds is not null "
        "from marts.fct_integration_health where source_system = 'wms' order by tenant_id"
    ).fetchall()
    con.close()
    assert rows == [
        ("bad", 0, 1, 1, 1, "open", "pull_failed", "red", False),
        ("good", 1, 1, 0, 0, "closed", "landed", "green", True),
    ]


def _materials_csv(landing: Path, tenant: str, name: str, extra: dict[str, str]) -> Path:
    """One materials row as a CSV drop, with ``extra`` columns the contract does not read."""
    row = {**MATERIAL, "material_id": f"MAT-{tenant}-{name}", **extra}
    folder = landing / tenant / "erp" / "materials"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(",".join(row) + "\n" + ",".join(row.values()) + "\n", encoding="utf-8")
    return path


def _build_mart(data_dir: Path) -> None:
    """``dbt build --select +fct_integration_health`` on ``data_dir``'s lake (``run_dbt``: its
    parse, manifest and logs go under ``data_dir``)."""
    completed = run_dbt(
        data_dir, ["build", "--select", "+fct_integration_health"], capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stdout[-3000:]


def test_integration_health_counts_skipped_paths_and_schema_drift(tmp_path: Path):
    """Skipped paths and drifted CSV columns written by real landing reach the mart: counted
    over the last 24 hours per tenant, source system and entity; a tenant folder whose name is
    not a tenant id is counted under tenant ``_invalid``, never under a real tenant."""
    landing = tmp_path / "landing"
    good = _materials_csv(landing, "acme", "a.csv", {"remarks": "rush"})
    _materials_csv(landing, "acme", "b.csv", {"remarks": "", "colour": "red"})
    outside = tmp_path / "outside.csv"
    outside.write_text(good.read_text(encoding="utf-8"), encoding="utf-8")
    (good.parent / "c_link.csv").symlink_to(outside)
    (good.parent / "d_old_link.csv").symlink_to(outside)
    _materials_csv(landing, "acme corp", "a.csv", {})  # not a tenant id: skipped
    _materials_csv(landing, "beta", "a.csv", {})  # clean
    con = connect(tmp_path)
    try:
        for entity in (*DAGSTER_ENTITIES, *BRIDGES_ENTITIES):  # platform tables the mart reads
            land_entity(con, entity, landing)
        result = land_entity(con, materials, landing, run_id="run-1")
        assert len(result.files_ingested) == 3 and len(result.paths_skipped) == 3
        # what was recorded before the 24-hour window counts for last_schema_drift_at only
        run(
            con,
            "update audit.schema_drift set recorded_at = recorded_at - interval 3 day "
            "where field = 'colour'",
        )
        run(
            con,
            "update audit.skipped_paths set first_seen_at = first_seen_at - interval 3 day "
            "where path like '%d_old_link.csv'",
        )
        drift = run(
            con,
            "select field, count(*), max(recorded_at) from audit.schema_drift "
            "where tenant_id = 'acme' group by field order by field",
        )
    finally:
        con.close()
    (colour, _, colour_at), (remarks, remarks_files, remarks_at) = drift
    assert (colour, remarks, remarks_files) == ("colour", "remarks", 2)
    assert colour_at < remarks_at

    _build_mart(tmp_path)
    con = connect(tmp_path, read_only=True)
    try:
        rows = run(
            con,
            "select tenant_id, entity, paths_skipped_24h, schema_drift_columns_24h, "
            "last_schema_drift_at, rows_landed_24h from marts.fct_integration_health "
            "where source_system = 'erp' order by tenant_id",
        )
        types = dict(
            run(
                con,
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name = 'fct_integration_health' and "
                "column_name in ('paths_skipped_24h', 'schema_drift_columns_24h', "
                "'last_schema_drift_at')",
            )
        )
    finally:
        con.close()
    assert rows == [
        ("_invalid", "materials", 1, 0, None, 0),  # the `acme corp` folder
        # c_link.csv; `remarks` (2 files); the mart's instant is the audit table's naive UTC time
        ("acme", "materials", 1, 1, remarks_at.replace(tzinfo=UTC), 2),
        ("beta", "materials", 0, 0, None, 1),
    ]
    assert types == {
        "paths_skipped_24h": "BIGINT",
        "schema_drift_columns_24h": "BIGINT",
        "last_schema_drift_at": "TIMESTAMP WITH TIME ZONE",
    }


def _bridge_document(bridge: str, at: datetime, pid: int, **values) -> dict:
    """A bridge's health document (the shape its health file has) taken at ``at``."""
    document = {
        "bridge": bridge,
        "updated_at": utc_iso(at),
        "pid": pid,
        "running": True,
        "connected": True,
        "lag_seconds": 2.5,
        "reconnects": 0,
    }
    if bridge == "mqtt":
        document |= {"broker": "mqtt://broker:1883", "messages_per_second": 800.0}
        document |= {"messages_received": 1000, "messages_written": 1000, "redeliveries": 0}
    else:
        document |= {"endpoint": "opc.tcp://plant:4840", "samples_per_second": 0.4}
        document |= {"samples_received": 40, "samples_written": 40}
    return document | values


def test_each_bridge_is_a_row_with_its_connected_state_lag_and_24_hour_counters(tmp_path: Path):
    """Issue #14 §5: the bridges' health samples (drop files written by HealthSamples, landed
    through the contract) make one row per bridge. The OPC-UA bridge sampled a minute ago,
    connected: green. The MQTT bridge's last sample is 10 minutes old (it went silent): not
    connected, red; its redeliveries and reconnects count what grew in the last 24 hours, over
    both of its processes (the first one's counters before the window do not count)."""
    landing = tmp_path / "landing"
    now = datetime.now(UTC)
    samples = [
        _bridge_document("opcua", now - timedelta(minutes=1), 300, samples_per_second=0.5),
        _bridge_document("mqtt", now - timedelta(hours=30), 100, redeliveries=5, reconnects=1),
        _bridge_document("mqtt", now - timedelta(hours=20), 100, redeliveries=9, reconnects=2),
        _bridge_document("mqtt", now - timedelta(hours=2), 100, redeliveries=9, running=False),
        _bridge_document("mqtt", now - timedelta(minutes=10), 200, redeliveries=3, lag_seconds=9),
    ]
    written = {HealthSamples(landing).offer(document, 0.0) for document in samples}
    assert len(written) == len(samples)
    assert {p.parent.relative_to(landing).as_posix() for p in written} == {
        "platform/bridges/health"
    }
    con = connect(tmp_path)
    try:
        for entity in (*DAGSTER_ENTITIES, *BRIDGES_ENTITIES):
            result = land_entity(con, entity, landing)
        counts = result.per_tenant["platform"]
        assert (counts.rows_landed, counts.rows_quarantined) == (len(samples), 0)
    finally:
        con.close()

    _build_mart(tmp_path)
    con = connect(tmp_path, read_only=True)
    try:
        rows = run(
            con,
            "select tenant_id, entity, bridge_connected, bridge_messages_per_second, "
            "bridge_lag_seconds, bridge_redeliveries_24h, bridge_reconnects_24h, health_status "
            "from marts.fct_integration_health where source_system = 'bridges' "
            "and entity <> 'health' order by entity",
        )
        others = run(
            con,
            "select count(*) from marts.fct_integration_health "
            "where source_system <> 'bridges' and bridge_connected is not null",
        )
    finally:
        con.close()
    assert rows == [
        # process 100: 9 - 5 redeliveries, 2 - 1 reconnects in the window; process 200: 3, 0
        ("platform", "mqtt", False, 800.0, 9.0, 7, 1, "red"),
        ("platform", "opcua", True, 0.5, 2.5, 0, 0, "green"),
    ]
    assert others == [(0,)]
