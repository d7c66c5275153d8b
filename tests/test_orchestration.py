"""Schedules, drop-folder sensors and the run-failure recorder, evaluated for real (the automation
sensor: tests/test_automation.py)."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from traceloom_pipelines.cadence import CADENCES, cadence_of
from traceloom_pipelines.definitions import defs
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.partitions import RANGE_START_TAG
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.sensors import SETTLE_SECONDS, run_failure_recorder
from traceloom_pipelines.sources.catalog import all_entities
from traceloom_pipelines.sources.dagster.contract import run_failures

VENV_BIN = Path(sys.executable).parent


def _drop(data_dir, relative: str, text: str, age_seconds: float = 60) -> None:
    path = data_dir / "landing" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    then = time.time() - age_seconds
    os.utime(path, (then, then))


def _evaluate(sensor_name: str, data_dir, cursor: str | None, instance=None):
    sensor = defs.resolve_sensor_def(sensor_name)
    with dg.instance_for_test() as fresh:
        context = dg.build_sensor_context(
            instance=instance or fresh,
            cursor=cursor,
            resources={"warehouse": WarehouseResource(data_dir=str(data_dir))},
        )
        result = sensor.evaluate_tick(context)
    return result


def _materialize_in_order(instance, keys) -> None:
    """Record a materialization of each of ``keys``, parents before children, as a run would."""
    for level in defs.resolve_asset_graph().toposorted_asset_keys_by_level:
        for key in sorted(set(level) & set(keys)):
            instance.report_runless_asset_event(dg.AssetMaterialization(key))


def test_every_entity_has_a_cadence_with_a_freshness_policy():
    graph = defs.resolve_asset_graph()
    for entity in all_entities():
        cadence = cadence_of(entity.system, entity.entity)
        policy = graph.get(dg.AssetKey(["raw", entity.system, entity.entity])).freshness_policy
        assert policy.warn_window.to_timedelta() == cadence.stale_after
    assert {c.name for c in CADENCES} | {
        "nightly_reconciliation_2300",
        "lake_maintenance_hourly",
    } == {s.name for s in defs.schedules}


def test_drop_sensor_launches_once_per_new_set_of_settled_files(tmp_path):
    _drop(tmp_path, "acme/erp/purchase_orders/a.json", '{"poId": "PO-1"}')
    _drop(tmp_path, "acme/erp/purchase_orders/b.json.part", "{")  # still uploading
    _drop(tmp_path, "acme/erp/purchase_orders/c.json", "{", age_seconds=SETTLE_SECONDS / 10)

    first = _evaluate("erp_drop_sensor", tmp_path, None)
    assert [r.tags["traceloom/new_files"] for r in first.run_requests] == ["1"]
    assert first.run_requests[0].tags["traceloom/first_file"] == "acme/erp/purchase_orders/a.json"
    assert json.loads(first.cursor).keys() == {"acme/erp/purchase_orders/a.json"}

    again = _evaluate("erp_drop_sensor", tmp_path, first.cursor)
    assert again.run_requests == [] and again.skip_message == "no new erp files"

    # c.json has settled now, and a.json was rewritten: both are new, under a new run key
    _drop(tmp_path, "acme/erp/purchase_orders/c.json", "{}")
    _drop(tmp_path, "acme/erp/purchase_orders/a.json", '{"poId": "PO-1", "revision": 2}')
    third = _evaluate("erp_drop_sensor", tmp_path, again.cursor)
    assert [r.tags["traceloom/new_files"] for r in third.run_requests] == ["2"]
    assert third.run_requests[0].run_key != first.run_requests[0].run_key

    # other systems' sensors do not react to ERP files
    assert _evaluate("mes_drop_sensor", tmp_path, None).run_requests == []


def test_drop_sensor_skips_files_that_have_landed_already(tmp_path):
    """A file the main job landed is new to the sensor's cursor but not to the lake: the run
    plan finds nothing due and the tick is skipped instead of launching a run that lands
    nothing; a file with other bytes launches a landing run of its source."""
    _drop(tmp_path, "acme/mes/machines/m.json", '[{"machine_id": "M-1"}]')
    machines = next(e for e in all_entities() if (e.system, e.entity) == ("mes", "machines"))
    con = connect(tmp_path)
    landed = land_entity(con, machines, tmp_path / "landing")
    con.close()
    assert landed.files_ingested == ["acme/mes/machines/m.json"]
    job = defs.resolve_job_def("ingest_mes_job")
    with dg.instance_for_test() as instance:
        _materialize_in_order(instance, job.asset_layer.selected_asset_keys)
        skipped = _evaluate("mes_drop_sensor", tmp_path, None, instance)
        assert skipped.run_requests == [] and "nothing new" in skipped.skip_message
        _drop(tmp_path, "acme/mes/production_counts/c.jsonl", '{"machine_id": "M-1"}\n')
        (request,) = _evaluate("mes_drop_sensor", tmp_path, skipped.cursor, instance).run_requests
    selected = set(request.asset_selection)
    assert dg.AssetKey(["raw", "mes", "production_counts"]) in selected
    assert dg.AssetKey(["raw", "mes", "machines"]) not in selected


def _tick(schedule_name: str, instance, at: datetime, data_dir):
    """One evaluation of the schedule, its context (which holds resources) closed after it:
    an open one leaves its instance as Dagster's current definitions-state storage."""
    schedule = defs.resolve_schedule_def(schedule_name)
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=at,
        resources={"warehouse": WarehouseResource(data_dir=str(data_dir))},
    ) as context:
        return schedule.evaluate_tick(context)


def test_schedule_skips_while_its_job_is_still_active(tmp_path):
    schedule = defs.resolve_schedule_def("wms_stock_every_5_minutes")
    with dg.instance_for_test() as instance:
        at = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)
        (request,) = _tick(schedule.name, instance, at, tmp_path).run_requests
        # a cadence run lands: no daily partitions (the automation sensor's, automation.py)
        assert RANGE_START_TAG not in request.tags
        assert request.tags["traceloom/schedule"] == schedule.name
        instance.add_run(
            DagsterRun(
                job_name=schedule.job_name, run_id="r-running", status=dg.DagsterRunStatus.STARTED
            )
        )
        skipped = _tick(schedule.name, instance, at, tmp_path)
        assert skipped.run_requests == []
        assert "still queued or in progress" in skipped.skip_message


def test_a_cadence_tick_runs_only_what_is_new_and_skips_when_nothing_is(tmp_path):
    """Issue #11: the every-minute MES tick plans its run (traceloom_pipelines/run_plan.py):
    with every asset of its job materialized and no new file it skips; a new production-count
    file lands that source only, not the other MES sources (what it reaches downstream is the
    automation sensor's, tests/test_automation.py)."""
    schedule = defs.resolve_schedule_def("mes_streams_every_minute")
    job = defs.resolve_job_def(schedule.job_name)
    keys = set(job.asset_layer.selected_asset_keys)
    at = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        (first,) = _tick(schedule.name, instance, at, tmp_path).run_requests
        assert set(first.asset_selection) == keys  # nothing materialized yet: all of it
        _materialize_in_order(instance, keys)
        idle = _tick(schedule.name, instance, at, tmp_path)
        assert idle.run_requests == [] and "nothing new" in idle.skip_message

        _drop(tmp_path, "acme-apparel/mes/production_counts/counts_1.jsonl", '{"a": 1}\n')
        (request,) = _tick(schedule.name, instance, at, tmp_path).run_requests
    assert set(request.asset_selection) == {dg.AssetKey(["raw", "mes", "production_counts"])}
    assert RANGE_START_TAG not in request.tags


@dg.op
def _explode():
    raise RuntimeError("ERP endpoint returned 503")


@dg.job
def _failing_job():
    _explode()


def test_a_failed_run_is_recorded_and_lands_as_a_platform_source(tmp_path):
    with dg.instance_for_test() as instance:
        result = _failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_recorder",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources={"warehouse": WarehouseResource(data_dir=str(tmp_path))},
        ).for_run_failure()
        run_failure_recorder(context)

    written = list((tmp_path / "landing" / "platform" / "dagster" / "run_failures").iterdir())
    assert [p.name for p in written] == [f"{result.run_id}.json"]
    con = connect(tmp_path)
    landed = land_entity(con, run_failures, tmp_path / "landing")
    assert landed.total.rows_landed == 1
    assert run(
        con, "select tenant_id, job_name, failed_steps, launched_by from raw.dagster__run_failures"
    ) == [("platform", "_failing_job", "_explode", "manual")]
    con.close()


@pytest.mark.parametrize("cadence", CADENCES, ids=lambda c: c.name)
def test_cadence_jobs_land_their_entities_only(cadence):
    job = defs.resolve_job_def(f"{cadence.name}_job")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    for entity in cadence.entities:
        assert f"raw/{entity}" in keys
    # landing only (child tables included): downstream is the automation sensor's
    assert all(k.startswith("raw/") and not k.startswith("raw/audit/") for k in keys), keys
    # the rendered reports belong to the nightly job (and the main job), not to a cadence
    nightly = defs.resolve_job_def("nightly_reconciliation")
    assert "reports/nightly_reconciliation" in {
        k.to_user_string() for k in nightly.asset_layer.selected_asset_keys
    }


def test_a_cadence_run_lands_in_the_runs_own_process(tmp_path):
    """A cadence job's default run config executes its steps in the run's process (no
    forkserver, no process per step): launched as ``dagster job execute`` (the daemon's run
    worker executes the same way), it lands the new file and every step event comes from the
    process that ran the job."""
    data_dir, home = tmp_path / "data", tmp_path / "dagster_home"
    home.mkdir()
    record = {
        "machine_id": "M-104",
        "work_order_id": "WO-1",
        "timestamp": "2026-11-10T00:09:42Z",
        "units_produced": 3,
        "cumulative_units": 48,
        "quality_status": "pass",
        "cycle_time_seconds": 727.0,
    }
    _drop(data_dir, "acme-apparel/mes/production_counts/delta.jsonl", json.dumps(record) + "\n")
    env = {**os.environ, "TRACELOOM_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}
    job = "mes_streams_every_minute_job"
    command = [str(VENV_BIN / "dagster"), "job", "execute", "-m", "traceloom_pipelines.definitions"]
    done = subprocess.run(
        [*command, "-j", job], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (record_,) = instance.get_run_records(dg.RunsFilter(job_name=job))
        assert record_.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        events = instance.all_logs(record_.dagster_run.run_id)
    (engine,) = [e for e in events if "Executing steps in process" in (e.message or "")]
    step_pids = {
        e.dagster_event.pid
        for e in events
        if e.step_key and e.dagster_event and e.dagster_event.pid is not None
    }
    assert step_pids == {engine.dagster_event.pid}, step_pids
    con = connect(data_dir, read_only=True)
    try:
        assert run(con, "select source_file, rows_read from audit.batches") == [
            ("acme-apparel/mes/production_counts/delta.jsonl", 1)
        ]
    finally:
        con.close()
