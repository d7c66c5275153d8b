"""The production instance end to end: deploy/dagster.yaml on the machine's PostgreSQL.

The deployment (``conftest.py``, shared with the browser test in ``test_ui_backfill.py``) is a
fresh PostgreSQL database, a temporary DAGSTER_HOME holding a copy of ``deploy/dagster.yaml``, a
tiny demo world, and the real ``dagster-webserver`` and ``dagster-daemon run`` processes on
loopback, exactly as ``make serve`` starts them. The main job is launched through the GraphQL API,
queued, dequeued by the daemon and executed by the default run launcher; the run must succeed, be
stored in PostgreSQL and fill the marts. Then a schedule and a sensor are started through GraphQL
and must each record a tick; they are stopped again at the end, so they launch no more runs.
Last, the ``traceloom_automation`` sensor is started and a cadence job lands one new production
count: the daemon's automation runs must refresh what it reaches (today's fct_production_daily,
the Parquet export) and nothing it does not (fct_purchase_orders).

PostgreSQL is taken from DAGSTER_PG_HOST/PORT/USER/PASSWORD (default 127.0.0.1:5432, postgres,
no password); CI (.ci/run) starts it. An unreachable server fails the test, it does not skip.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
)
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster_graphql import DagsterGraphQLClient

from tests.deploy.support import (
    IN_FLIGHT,
    LOCATION,
    REPOSITORY,
    RUN_TIMEOUT,
    Deployment,
    pg_connect,
    run_errors,
    stop_instigators,
    wait_until_idle,
)
from traceloom_pipelines.automation import AUTOMATION_SENSOR
from traceloom_pipelines.definitions import MAIN_JOB
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.partitions import main_run_tags

pytestmark = [
    pytest.mark.slow,
    # dagster_graphql's client calls gql with arguments gql deprecates, once per status poll.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gql"),
]

SCHEDULE = "mes_streams_every_minute"
SENSOR_SUFFIX = "_drop_sensor"
PREFERRED_SENSOR = "erp_drop_sensor"
TICK_TIMEOUT = 150


REPOSITORIES_QUERY = """
query {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes { name location { name } jobs { name } schedules { name } sensors { name } }
    }
    ... on PythonError { message stack }
  }
}
"""

START_SCHEDULE = """
mutation ($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message stack }
    ... on ScheduleNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""

START_SENSOR = """
mutation ($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message stack }
    ... on SensorNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""


def _repository(deploy: Deployment) -> dict:
    result = deploy.graphql(REPOSITORIES_QUERY)["repositoriesOrError"]
    if result["__typename"] != "RepositoryConnection":
        deploy.fail(f"repositories: {result}")
    return next(
        r for r in result["nodes"] if r["location"]["name"] == LOCATION and r["name"] == REPOSITORY
    )


def test_main_job_runs_on_the_postgres_instance(deployment: Deployment, instance):
    client = DagsterGraphQLClient("127.0.0.1", port_number=deployment.port)
    # The main job holds the daily-partitioned marts: one run covers the recent days' window.
    # All of it: the browser test (test_ui_backfill.py) backfills three of those days and checks
    # that their neighbours keep this run's materializations.
    run_id = client.submit_job_execution(
        MAIN_JOB,
        repository_location_name=LOCATION,
        repository_name=REPOSITORY,
        tags=main_run_tags(),
    )

    started = time.monotonic()
    status = client.get_run_status(run_id)
    while status not in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE):
        if status == DagsterRunStatus.CANCELED:
            deployment.fail(f"run {run_id} was canceled:\n{run_errors(instance, run_id)}")
        if time.monotonic() - started > RUN_TIMEOUT:
            deployment.fail(f"run {run_id} still {status.value} after {RUN_TIMEOUT}s")
        deployment.check_alive()
        time.sleep(1)
        status = client.get_run_status(run_id)
    if status == DagsterRunStatus.FAILURE:
        deployment.fail(f"run {run_id} failed:\n{run_errors(instance, run_id)}")

    # The run history is in PostgreSQL, not in a SQLite file under DAGSTER_HOME.
    with pg_connect(deployment.db_name) as con, con.cursor() as cur:
        cur.execute("select pipeline_name, status from runs where run_id = %s", (run_id,))
        assert cur.fetchall() == [(MAIN_JOB, "SUCCESS")]
        cur.execute("select count(*) from event_logs where run_id = %s", (run_id,))
        assert cur.fetchone()[0] > 0
    assert not list(deployment.home.rglob("*.db")), "a SQLite storage was created"

    # ... and it materialized the warehouse through to the marts.
    con = connect(deployment.data_dir, read_only=True)
    try:
        work_orders = con.execute("select count(*) from marts.fct_work_orders").fetchone()[0]
    finally:
        con.close()
    assert work_orders > 0

    # Every dbt test ran as an asset check with a result: dagster-dbt records a test that its
    # step did not select as a check as an observation of the test's models (and warns) instead.
    observed = [
        entry.dagster_event.asset_key.to_user_string()
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_OBSERVATION)
        if entry.dagster_event.asset_key.path[0] in ("staging", "intermediate", "marts")
    ]
    assert not observed, observed


def _start(deploy: Deployment, mutation: str, selector: dict, ok: str) -> None:
    result = next(iter(deploy.graphql(mutation, {"selector": selector}).values()))
    if result["__typename"] != ok:
        deploy.fail(f"could not start {selector}: {result}")


def _terminal_tick(instance: DagsterInstance, name: str, kind: InstigatorType):
    """The newest finished tick of the named schedule/sensor, or None."""
    for state in instance.all_instigator_state(instigator_type=kind):
        if state.name != name:
            continue
        for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=10):
            if tick.status != TickStatus.STARTED:
                return tick
    return None


def test_schedule_and_sensor_record_ticks(deployment: Deployment, instance):
    repo = _repository(deployment)
    schedules = {s["name"] for s in repo["schedules"]}
    sensors = sorted(s["name"] for s in repo["sensors"] if s["name"].endswith(SENSOR_SUFFIX))
    if SCHEDULE not in schedules or not sensors:
        pytest.skip(
            f"the definitions do not have the schedule {SCHEDULE!r} and a *{SENSOR_SUFFIX} "
            f"sensor yet (schedules: {sorted(schedules)}, sensors: {sensors})"
        )
    sensor = PREFERRED_SENSOR if PREFERRED_SENSOR in sensors else sensors[0]
    where = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}

    try:
        _start(
            deployment, START_SCHEDULE, {**where, "scheduleName": SCHEDULE}, "ScheduleStateResult"
        )
        _start(deployment, START_SENSOR, {**where, "sensorName": sensor}, "Sensor")
        _wait_for_ticks(
            deployment, instance, {SCHEDULE: InstigatorType.SCHEDULE, sensor: InstigatorType.SENSOR}
        )
    finally:
        # Both launch runs (every minute / per new drop): stop them, so the runs they started
        # are the last ones and the next test finds a quiet instance.
        stop_instigators(deployment, instance, {SCHEDULE, sensor})


def _wait_for_ticks(deployment: Deployment, instance, waiting: dict[str, InstigatorType]) -> None:
    """Until each named schedule/sensor records a finished tick (the sensor is evaluated within
    seconds, the schedule at the next minute boundary); a failed tick fails the test."""
    waiting = dict(waiting)
    deadline = time.monotonic() + TICK_TIMEOUT
    while waiting and time.monotonic() < deadline:
        deployment.check_alive()
        for name, kind in list(waiting.items()):
            tick = _terminal_tick(instance, name, kind)
            if tick is None:
                continue
            if tick.status == TickStatus.FAILURE:
                deployment.fail(f"{kind.value} {name} tick failed:\n{tick.error.to_string()}")
            del waiting[name]
        time.sleep(2)
    if waiting:
        deployment.fail(f"no tick recorded within {TICK_TIMEOUT}s for {sorted(waiting)}")


AUTOMATION_TIMEOUT = 900
PRODUCTION_DAILY = AssetKey(["marts", "fct_production_daily"])
EXPORT = AssetKey(["bi", "marts_parquet"])
PURCHASE_ORDERS = AssetKey(["marts", "fct_purchase_orders"])


def _latest_storage_id(instance: DagsterInstance, key: AssetKey, partition: str | None = None):
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    return records[0].storage_id if records else None


def _drop_one_production_count(data_dir, at: datetime) -> tuple[str, dict]:
    """A new drop file with one production count at ``at`` (a copy of the world's first
    record, on its machine and work order): (tenant, record)."""
    landing = data_dir / "landing"
    source = sorted(landing.glob("*/mes/production_counts/*.jsonl"))[0]
    tenant = source.relative_to(landing).parts[0]
    record = json.loads(source.read_text(encoding="utf-8").splitlines()[0])
    record.update(timestamp=at.strftime("%Y-%m-%dT%H:%M:%SZ"), units_produced=7)
    target = source.parent / "automation_delta.jsonl"
    target.write_text(json.dumps(record) + "\n", encoding="utf-8")
    settled = time.time() - 120  # older than the landing's settle time
    os.utime(target, (settled, settled))
    return tenant, record


def test_the_automation_sensor_refreshes_what_a_landing_reaches(
    deployment: Deployment, instance, main_job_succeeded: str
):
    """Issue #11: the cadence job lands, the automation sensor does the rest (automation.py)."""
    # The new count's time, and the day whose partition it reaches, fixed before anything else:
    # a test that crosses midnight UTC still looks for the count in the day it was written to.
    at = datetime.now(UTC) - timedelta(minutes=1)
    today = at.strftime("%Y-%m-%d")
    before = {
        key: _latest_storage_id(instance, key, part)
        for key, part in ((PRODUCTION_DAILY, today), (EXPORT, None), (PURCHASE_ORDERS, None))
    }
    where = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    try:
        _start(deployment, START_SENSOR, {**where, "sensorName": AUTOMATION_SENSOR}, "Sensor")
        # its first evaluation only records the state it starts from
        _wait_for_ticks(deployment, instance, {AUTOMATION_SENSOR: InstigatorType.SENSOR})
        tenant, record = _drop_one_production_count(deployment.data_dir, at)
        run_id = deployment.client.submit_job_execution(
            f"{SCHEDULE}_job", repository_location_name=LOCATION, repository_name=REPOSITORY
        )
        deployment.wait_for_run(instance, run_id)
        landed_at = datetime.now(UTC)
        # automation runs (and the backfill of the daily marts' two days) until today's
        # fct_production_daily is rebuilt, then the export after it, and nothing is in flight
        deadline = time.monotonic() + AUTOMATION_TIMEOUT
        while True:
            deployment.check_alive()
            failed = instance.get_runs(
                RunsFilter(created_after=landed_at, statuses=[DagsterRunStatus.FAILURE]), limit=1
            )
            if failed:
                deployment.fail(
                    f"run {failed[0].run_id} ({failed[0].job_name}) failed:\n"
                    f"{run_errors(instance, failed[0].run_id)}"
                )
            daily = _latest_storage_id(instance, PRODUCTION_DAILY, today)
            export = _latest_storage_id(instance, EXPORT)
            in_flight = instance.get_runs(RunsFilter(statuses=IN_FLIGHT))
            if daily != before[PRODUCTION_DAILY] and export > daily and not in_flight:
                break
            if time.monotonic() > deadline:
                automated = instance.get_runs(RunsFilter(created_after=landed_at))
                deployment.fail(
                    f"after {AUTOMATION_TIMEOUT}s: fct_production_daily {today} "
                    f"{before[PRODUCTION_DAILY]} -> {daily}, export {export}; runs since the "
                    "landing: " + ", ".join(f"{r.job_name} {r.status.value}" for r in automated)
                )
            time.sleep(3)
    finally:
        stop_instigators(deployment, instance, {AUTOMATION_SENSOR})
        wait_until_idle(deployment, instance)

    # nothing the new count does not reach was rebuilt
    assert _latest_storage_id(instance, PURCHASE_ORDERS) == before[PURCHASE_ORDERS]
    # and today's mart holds the new count
    con = connect(deployment.data_dir, read_only=True)
    try:
        units = con.execute(
            "select sum(units_produced) from marts.fct_production_daily "
            "where tenant_id = ? and machine_id = ? and production_date = ?",
            [tenant, record["machine_id"], today],
        ).fetchone()[0]
    finally:
        con.close()
    assert units is not None and units >= record["units_produced"]
