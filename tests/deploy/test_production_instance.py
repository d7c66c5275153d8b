"""The production instance end to end: deploy/dagster.yaml on the machine's PostgreSQL.

One module-scoped deployment: a fresh PostgreSQL database (dropped at the end), a temporary
DAGSTER_HOME holding a copy of ``deploy/dagster.yaml``, a tiny demo world, and the real
``dagster-webserver`` and ``dagster-daemon run`` processes on loopback, exactly as ``make serve``
starts them. The main job is launched through the GraphQL API, queued, dequeued by the daemon and
executed by the default run launcher; the run must succeed, be stored in PostgreSQL and fill the
marts. Then a schedule and a sensor are started through GraphQL and must each record a tick.

PostgreSQL is taken from DAGSTER_PG_HOST/PORT/USER/PASSWORD (default 127.0.0.1:5432, postgres,
no password); CI (.ci/run) starts it. An unreachable server fails the test, it does not skip.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import psycopg2
import pytest
import requests
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster_graphql import DagsterGraphQLClient

from traceloom_pipelines.cli import install_public_samples
from traceloom_pipelines.definitions import MAIN_JOB
from traceloom_pipelines.demo import generate_world
from traceloom_pipelines.partitions import main_run_tags
from traceloom_pipelines.resources import PROJECT_ROOT

pytestmark = [
    pytest.mark.slow,
    # dagster_graphql's client calls gql with arguments gql deprecates, once per status poll.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gql"),
]

LOCATION = "traceloom"  # workspace.yaml location_name
REPOSITORY = "__repository__"  # a Definitions object's repository
SCHEDULE = "mes_streams_every_minute"
SENSOR_SUFFIX = "_drop_sensor"
PREFERRED_SENSOR = "erp_drop_sensor"

SERVER_START_TIMEOUT = 180  # webserver answering and the code location loaded
RUN_TIMEOUT = 8 * 60
TICK_TIMEOUT = 150
VENV_BIN = Path(sys.executable).parent
PG = {
    "host": os.environ.get("DAGSTER_PG_HOST", "127.0.0.1"),
    "port": int(os.environ.get("DAGSTER_PG_PORT", "5432")),
    "user": os.environ.get("DAGSTER_PG_USER", "postgres"),
    "password": os.environ.get("DAGSTER_PG_PASSWORD", ""),
}


def _pg_connect(dbname: str):
    return psycopg2.connect(dbname=dbname, connect_timeout=5, **PG)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


@dataclass
class Deployment:
    """The running webserver + daemon on one instance, and how to talk to them."""

    home: Path
    data_dir: Path
    port: int
    env: dict[str, str]
    db_name: str
    logs_dir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str, args: list[str]) -> None:
        log = (self.logs_dir / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: the code servers and run workers it spawns stay in it, so
            # the teardown can stop the whole tree.
            start_new_session=True,
        )
        log.close()

    def logs(self) -> str:
        return "\n".join(
            f"\n----- {name} log (last lines of {self.logs_dir / f'{name}.log'}) -----\n"
            + _tail(self.logs_dir / f"{name}.log")
            for name in self.procs
        )

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n{self.logs()}", pytrace=False)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                self.fail(f"{name} exited with code {proc.returncode}")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            self.fail(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def stop(self) -> None:
        """SIGTERM every process group, wait, SIGKILL what is left: no orphans."""
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            # The leader may be gone while children (code server, run workers) still drain.
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A fresh, uniquely named database, dropped (with any connection left) at the end."""
    try:
        admin = _pg_connect("postgres")
    except psycopg2.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG['host']}:{PG['port']} as {PG['user']} "
            f"(set DAGSTER_PG_HOST/PORT/USER/PASSWORD, or start it: .ci/run does): {exc}",
            pytrace=False,
        )
    admin.autocommit = True
    name = f"traceloom_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


@pytest.fixture(scope="module")
def deployment(pg_database: str, tmp_path_factory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("production")
    home, data_dir, logs_dir = root / "dagster_home", root / "data", root / "logs"
    for d in (home, data_dir, logs_dir):
        d.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    generate_world(data_dir / "landing", data_dir / "demo" / "answer_key.json", seed=3, scale=0.001)
    install_public_samples(data_dir)

    pg_env = {
        "DAGSTER_PG_HOST": PG["host"],
        "DAGSTER_PG_PORT": str(PG["port"]),
        "DAGSTER_PG_USER": PG["user"],
        "DAGSTER_PG_PASSWORD": PG["password"],
        "DAGSTER_PG_DB": pg_database,
    }
    env = {
        **os.environ,
        **pg_env,
        "DAGSTER_HOME": str(home),
        "TRACELOOM_DATA_DIR": str(data_dir),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    }
    deploy = Deployment(
        home=home,
        data_dir=data_dir,
        port=_free_port(),
        env=env,
        db_name=pg_database,
        logs_dir=logs_dir,
    )
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in pg_env.items():  # the test process builds the same instance
            mp.setenv(key, value)
        try:
            deploy.start("daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-w", workspace])
            deploy.start(
                "webserver",
                [
                    str(VENV_BIN / "dagster-webserver"),
                    *("-h", "127.0.0.1", "-p", str(deploy.port), "-w", workspace),
                ],
            )
            _wait_until_loaded(deploy)
            yield deploy
        finally:
            deploy.stop()


@pytest.fixture(scope="module")
def instance(deployment: Deployment) -> Iterator[DagsterInstance]:
    """The instance the processes use, read from the same DAGSTER_HOME (so: from PostgreSQL)."""
    with DagsterInstance.from_config(str(deployment.home)) as inst:
        yield inst


WORKSPACE_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } }
      }
    }
    ... on PythonError { message }
  }
}
"""

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


def _wait_until_loaded(deploy: Deployment) -> None:
    """Until the webserver answers and has loaded the code location (fail on a load error)."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        deploy.check_alive()
        try:
            workspace = deploy.graphql(WORKSPACE_QUERY)["workspaceOrError"]
        except requests.RequestException:  # not listening yet
            time.sleep(0.5)
            continue
        entries = workspace.get("locationEntries") or []
        entry = next((e for e in entries if e["name"] == LOCATION), None)
        if entry and entry["loadStatus"] == "LOADED":
            loaded = entry["locationOrLoadError"]
            if loaded and loaded["__typename"] == "PythonError":
                deploy.fail(f"code location {LOCATION} failed to load:\n{loaded['stack']}")
            return
        time.sleep(0.5)
    deploy.fail(f"the webserver did not load {LOCATION} within {SERVER_START_TIMEOUT}s")


def _repository(deploy: Deployment) -> dict:
    result = deploy.graphql(REPOSITORIES_QUERY)["repositoriesOrError"]
    if result["__typename"] != "RepositoryConnection":
        deploy.fail(f"repositories: {result}")
    return next(
        r for r in result["nodes"] if r["location"]["name"] == LOCATION and r["name"] == REPOSITORY
    )


def _run_errors(instance: DagsterInstance, run_id: str) -> str:
    """The run's failure and error-level events, with their error messages."""
    lines = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        failed = event is not None and (event.is_failure or event.is_run_failure)
        if not failed and entry.level < logging.ERROR:
            continue
        lines.append(f"[{entry.step_key or 'run'}] {entry.user_message or entry.message}")
        error = getattr(event.event_specific_data, "error", None) if event else None
        if error is not None:
            lines.append(error.to_string()[-3000:])
    return "\n".join(lines) or "(no error events recorded)"


def test_main_job_runs_on_the_postgres_instance(deployment: Deployment, instance):
    client = DagsterGraphQLClient("127.0.0.1", port_number=deployment.port)
    # The main job holds the daily-partitioned marts: one run covers the recent days' window.
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
            deployment.fail(f"run {run_id} was canceled:\n{_run_errors(instance, run_id)}")
        if time.monotonic() - started > RUN_TIMEOUT:
            deployment.fail(f"run {run_id} still {status.value} after {RUN_TIMEOUT}s")
        deployment.check_alive()
        time.sleep(1)
        status = client.get_run_status(run_id)
    if status == DagsterRunStatus.FAILURE:
        deployment.fail(f"run {run_id} failed:\n{_run_errors(instance, run_id)}")

    # The run history is in PostgreSQL, not in a SQLite file under DAGSTER_HOME.
    with _pg_connect(deployment.db_name) as con, con.cursor() as cur:
        cur.execute("select pipeline_name, status from runs where run_id = %s", (run_id,))
        assert cur.fetchall() == [(MAIN_JOB, "SUCCESS")]
        cur.execute("select count(*) from event_logs where run_id = %s", (run_id,))
        assert cur.fetchone()[0] > 0
    assert not list(deployment.home.rglob("*.db")), "a SQLite storage was created"

    # ... and it materialized the warehouse through to the marts.
    con = duckdb.connect(str(deployment.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        work_orders = con.execute("select count(*) from marts.fct_work_orders").fetchone()[0]
    finally:
        con.close()
    assert work_orders > 0


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

    _start(deployment, START_SCHEDULE, {**where, "scheduleName": SCHEDULE}, "ScheduleStateResult")
    _start(deployment, START_SENSOR, {**where, "sensorName": sensor}, "Sensor")

    # The sensor is evaluated within seconds; the schedule at the next minute boundary.
    waiting = {SCHEDULE: InstigatorType.SCHEDULE, sensor: InstigatorType.SENSOR}
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
