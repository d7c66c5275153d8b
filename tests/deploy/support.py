"""The production deployment the tests in ``tests/deploy`` share: the running webserver + daemon
(``Deployment``), how to reach them and the instance's PostgreSQL, and run helpers. The fixtures
that start it are in ``conftest.py``.

PostgreSQL is taken from DAGSTER_PG_HOST/PORT/USER/PASSWORD (default 127.0.0.1:5432, postgres,
no password); CI (.ci/run) starts it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
import requests
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType
from dagster_graphql import DagsterGraphQLClient

from traceloom_pipelines.definitions import MAIN_JOB
from traceloom_pipelines.partitions import main_run_tags
from traceloom_pipelines.resources import PROJECT_ROOT

LOCATION = "traceloom"  # the code server's --location-name (workspace.yaml)
WORKSPACE = PROJECT_ROOT / "workspace.yaml"  # what `make dev` / `make serve` load
REPOSITORY = "__repository__"  # a Definitions object's repository

SERVER_START_TIMEOUT = 180  # webserver answering and the code location loaded
RUN_TIMEOUT = 25 * 60  # one main job run on the tiny world, on a busy machine (3 workers, 2 cores)
VENV_BIN = Path(sys.executable).parent
PG = {
    "host": os.environ.get("DAGSTER_PG_HOST", "127.0.0.1"),
    "port": int(os.environ.get("DAGSTER_PG_PORT", "5432")),
    "user": os.environ.get("DAGSTER_PG_USER", "postgres"),
    "password": os.environ.get("DAGSTER_PG_PASSWORD", ""),
}
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def pg_connect(dbname: str):
    """A psycopg2 connection to ``dbname`` on the test PostgreSQL server (5 s connect timeout)."""
    return psycopg2.connect(dbname=dbname, connect_timeout=5, **PG)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
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
    """The running webserver + daemon on one instance, and how to talk to them.

    ``url`` is the webserver's loopback address (UI and ``/graphql``); ``data_dir`` is the
    deployment's ``$TRACELOOM_DATA_DIR`` (landing, ``warehouse.duckdb``, reports).
    """

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

    @property
    def client(self) -> DagsterGraphQLClient:
        """The Dagster GraphQL Python client on this webserver."""
        return DagsterGraphQLClient("127.0.0.1", port_number=self.port)

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
        """Fail the test with ``message`` and the last lines of the webserver and daemon logs."""
        pytest.fail(f"{message}\n{self.logs()}", pytrace=False)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                self.fail(f"{name} exited with code {proc.returncode}")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        """POST a query to ``/graphql``; its ``data``. A GraphQL error fails the test."""
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            self.fail(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def launch_main_job(self) -> str:
        """Submit the main job through GraphQL with the partition-range tags of
        ``main_run_tags()`` (the recent days' window of the daily marts); its run id."""
        return self.client.submit_job_execution(
            MAIN_JOB,
            repository_location_name=LOCATION,
            repository_name=REPOSITORY,
            tags=main_run_tags(),
        )

    def wait_for_run(
        self, instance: DagsterInstance, run_id: str, timeout: float = RUN_TIMEOUT
    ) -> None:
        """Poll (1 s) until the run succeeds; fail the test with the run's errors and the
        process logs if it fails, is canceled, or is not done within ``timeout`` seconds."""
        started = time.monotonic()
        while True:
            run = instance.get_run_by_id(run_id)
            status = run.status if run else None
            if status == DagsterRunStatus.SUCCESS:
                return
            if status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED):
                self.fail(f"run {run_id} {status.value.lower()}:\n{run_errors(instance, run_id)}")
            if time.monotonic() - started > timeout:
                self.fail(f"run {run_id} still {status} after {timeout}s")
            self.check_alive()
            time.sleep(1)

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


STOP_SCHEDULE = """
mutation ($originId: String, $selectorId: String) {
  stopRunningSchedule(scheduleOriginId: $originId, scheduleSelectorId: $selectorId) {
    __typename
    ... on PythonError { message stack }
    ... on UnauthorizedError { message }
  }
}
"""

STOP_SENSOR = """
mutation ($originId: String, $selectorId: String) {
  stopSensor(jobOriginId: $originId, jobSelectorId: $selectorId) {
    __typename
    ... on PythonError { message stack }
    ... on UnauthorizedError { message }
  }
}
"""


def stop_instigators(
    deploy: Deployment, instance: DagsterInstance, names: set[str] | None = None
) -> list[str]:
    """Stop, through GraphQL, every schedule and sensor started on the instance (stored status
    RUNNING), or only those named in ``names``; the names stopped. Sensors running by their
    default in code (e.g. ``run_failure_recorder``) are left alone. A refused stop fails the test.
    """
    stopped = []
    for kind, mutation, ok in (
        (InstigatorType.SCHEDULE, STOP_SCHEDULE, "ScheduleStateResult"),
        (InstigatorType.SENSOR, STOP_SENSOR, "StopSensorMutationResult"),
    ):
        states = instance.all_instigator_state(
            instigator_type=kind, instigator_statuses={InstigatorStatus.RUNNING}
        )
        for state in states:
            if names is not None and state.name not in names:
                continue
            variables = {"originId": state.instigator_origin_id, "selectorId": state.selector_id}
            result = next(iter(deploy.graphql(mutation, variables).values()))
            if result["__typename"] != ok:
                deploy.fail(f"could not stop {kind.value} {state.name}: {result}")
            stopped.append(state.name)
    return stopped


def wait_until_idle(
    deploy: Deployment, instance: DagsterInstance, timeout: float = RUN_TIMEOUT
) -> None:
    """Poll (2 s) until no run is queued, starting or in progress (whatever its outcome); fail
    the test after ``timeout`` seconds, naming the runs still in flight."""
    deadline = time.monotonic() + timeout
    while True:
        busy = instance.get_runs(RunsFilter(statuses=IN_FLIGHT))
        if not busy:
            return
        if time.monotonic() > deadline:
            deploy.fail(
                f"runs still in flight after {timeout}s: "
                + ", ".join(f"{r.run_id} ({r.job_name}, {r.status.value})" for r in busy)
            )
        deploy.check_alive()
        time.sleep(2)


def run_errors(instance: DagsterInstance, run_id: str) -> str:
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


def start_code_server_daemon_and_webserver(deploy: Deployment) -> None:
    """Start what ``make serve`` starts, in its order: the code server (``dagster code-server
    start`` on a free loopback port), once it answers the daemon and the webserver, both loading
    the definitions from it (``workspace.yaml``, the port in the environment). Fails the
    test if the code server exits or does not answer within ``SERVER_START_TIMEOUT``."""
    from dagster._grpc.client import DagsterGrpcClient

    port = free_port()
    deploy.env = {
        **deploy.env,
        "TRACELOOM_CODE_SERVER_HOST": "127.0.0.1",
        "TRACELOOM_CODE_SERVER_PORT": str(port),
    }
    deploy.start(
        "code-server",
        [
            str(VENV_BIN / "dagster"),
            *("code-server", "start", "-m", "traceloom_pipelines.definitions"),
            *("--location-name", LOCATION, "-h", "127.0.0.1", "-p", str(port)),
        ],
    )
    client = DagsterGrpcClient(host="127.0.0.1", port=port)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        deploy.check_alive()
        try:
            if client.health_check_query() == "SERVING":
                break
        except Exception:  # not listening yet (grpc raises its own error types)
            pass
        if time.monotonic() > deadline:
            deploy.fail(f"the code server did not answer within {SERVER_START_TIMEOUT}s")
        time.sleep(0.5)
    workspace = str(WORKSPACE)
    deploy.start("daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-w", workspace])
    deploy.start(
        "webserver",
        [
            str(VENV_BIN / "dagster-webserver"),
            *("-h", "127.0.0.1", "-p", str(deploy.port), "-w", workspace),
        ],
    )


def wait_until_loaded(deploy: Deployment) -> None:
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


def launch_job(deploy: Deployment, job_name: str, tags: dict[str, str] | None = None) -> str:
    """Submit ``job_name`` of the code location through GraphQL (queued, like the UI); its run
    id."""
    return deploy.client.submit_job_execution(
        job_name, repository_location_name=LOCATION, repository_name=REPOSITORY, tags=tags or {}
    )


def wait_for_status(
    deploy: Deployment,
    instance: DagsterInstance,
    run_id: str,
    statuses: set[DagsterRunStatus],
    timeout: float = RUN_TIMEOUT,
) -> DagsterRunStatus:
    """Poll (1 s) until the run's status is one of ``statuses`` (returned), whatever it is; fail
    the test with the process logs after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in statuses:
            return run.status
        if time.monotonic() > deadline:
            deploy.fail(
                f"run {run_id} still {run.status.value if run else 'missing'} after {timeout}s, "
                f"not {sorted(s.value for s in statuses)}"
            )
        deploy.check_alive()
        time.sleep(1)


def run_worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid of the process executing the run (the run worker), from its RUN_START event;
    None before the run started."""
    from dagster._core.events import DagsterEventType

    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.RUN_START, limit=1
    ).records
    if not records or records[0].event_log_entry.dagster_event is None:
        return None
    return records[0].event_log_entry.dagster_event.pid
