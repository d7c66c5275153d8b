"""fct_integration_health built by real dbt on a warehouse written by real pulls: one healthy
pull, one whose breaker opened, dead letters counted over the last 24 hours (003 §8.1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from traceloom_pipelines.demo.serve import DemoServer, Faults, TenantWorld
from traceloom_pipelines.integration.breaker import breaker_for
from traceloom_pipelines.landing.assets import PULL_CHECK, build_ingestion_asset
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.resources import PROJECT_ROOT, WarehouseResource
from traceloom_pipelines.sources.dagster.contract import ENTITIES as DAGSTER_ENTITIES
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
    breaker_for("wms").record_success()
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
    breaker_for("wms").record_success()
    con = connect(tmp_path)
    for entity in DAGSTER_ENTITIES:  # the run-failure source table the mart reads
        land_entity(con, entity, tmp_path / "landing")
    con.close()

    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--profiles-dir",
            ".",
            "--select",
            "+fct_integration_health",
        ],
        cwd=PROJECT_ROOT / "dbt_project",
        env={**os.environ, "TRACELOOM_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
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
