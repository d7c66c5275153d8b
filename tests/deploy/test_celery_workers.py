"""The main job's steps on two Celery worker processes (dagster-celery, RabbitMQ) against the
PostgreSQL lake catalog, exactly as worker machines run them.

Real services, no mocks: two fresh PostgreSQL databases (the Dagster instance of
``deploy/dagster.yaml`` and the lake catalog), a temporary data directory with a tiny demo world,
two workers started with ``deploy/celery/worker.sh`` (what ``make worker`` runs) under distinct
node names on a queue of this test's own, and the real ``dagster-daemon`` and ``dagster-webserver``
with ``TRACELOOM_EXECUTOR=celery``. The main job is launched over GraphQL and must succeed; every
step must have run in a pool process of one of the two workers (the worker's node name that
dagster-celery records with each step, and the pid of each step's events matched to the worker
processes), both workers must have run steps, and the marts must equal those of an in-process run
(``dg.materialize``, as tests/test_main_job.py) of the same world on the embedded catalog. The
broker URL carries a password (RabbitMQ's ``guest``); it must appear in no event, run record,
process log or file of the instance. Every process, both databases and the queue are removed at
the end, pass or fail.

RabbitMQ is taken from TRACELOOM_CELERY_BROKER (default ``pyamqp://guest:guest@127.0.0.1:5672//``),
PostgreSQL as in tests/deploy/support.py. An unreachable service fails the test, it does not skip.
"""

from __future__ import annotations

import math
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import psutil
import psycopg2
import pytest
from celery import Celery
from dagster import DagsterInstance
from dagster._core.events import DagsterEventType
from kombu import Connection

from tests.deploy.support import (
    PG,
    VENV_BIN,
    Deployment,
    free_port,
    pg_connect,
    start_code_server_daemon_and_webserver,
    wait_until_loaded,
)
from tests.main_job import materialize_main_job
from traceloom_pipelines.cli import install_public_samples
from traceloom_pipelines.demo import generate_world
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.resources import PROJECT_ROOT

pytestmark = [
    pytest.mark.slow,
    # dagster_graphql's client calls gql with arguments gql deprecates.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gql"),
]

SEED, SCALE = 11, 0.002
# The run's window of daily partitions (the daily marts): today and yesterday rather than the
# suite's 31 days, which only plans more partitions in both runs; what is compared is
# where steps ran and that the marts equal, not day coverage (tests/test_main_job.py has that).
RUN_DAYS = "2"
WORKER_CONCURRENCY = 2  # pool processes per worker
BROKER = os.environ.get("TRACELOOM_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672//")
_BROKER_URL = urlsplit(BROKER)
# The broker URL's "user:password@", looked for in events, run records, logs and files.
SECRET = f"{_BROKER_URL.username}:{_BROKER_URL.password}@" if _BROKER_URL.password else None
READY_TIMEOUT = 180  # workers answering a ping
RUN_TIMEOUT = 15 * 60  # the main job through the workers on a busy machine
CELERY_WORKER_KEY = "Celery worker"  # dagster-celery's metadata key: the worker's node name
# Columns that record when the pipeline ran (the wall clock), not what it computed; the two runs
# are minutes apart. Integration health is measured now, from this run's landing and pull times;
# the PO twin is evaluated at now (dbt var po_twin_as_of unset, as in production): its late flags
# could differ only if a stage's lateness threshold fell between the two runs' dbt builds.
WALL_CLOCK_COLUMNS = {
    "fct_integration_health": {
        "last_landed_at",
        "landing_lag_seconds",
        "last_successful_pull_at",
        "measured_at",
    },
    "fct_po_timeline": {"as_of_at"},
    "fct_po_delay_risk": {"as_of_at"},
    # when identity resolution ran (the golden records themselves must be equal)
    "dim_suppliers": {"resolved_at"},
    "dim_products": {"resolved_at"},
}


@contextmanager
def _fresh_database(purpose: str) -> Iterator[str]:
    """A new, uniquely named PostgreSQL database, dropped (connections and all) on exit."""
    try:
        admin = pg_connect("postgres")
    except psycopg2.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG['host']}:{PG['port']}: {exc}", pytrace=False
        )
    admin.autocommit = True
    name = f"traceloom_test_{purpose}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.cursor() as cur:
            cur.execute(f'create database "{name}"')
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


@dataclass
class CeleryDeployment:
    """The running deployment, the lake's environment, and the two workers' names."""

    deploy: Deployment
    lake_env: dict[str, str]
    workers: tuple[str, str]


@contextmanager
def _celery_queue() -> Iterator[str]:
    """A queue name of this test's own (no other worker on the broker takes its steps); the
    queue and its exchange, which Celery declares on first use, are deleted on exit."""
    try:
        with Connection(BROKER, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises the transport's own errors
        pytest.fail(f"RabbitMQ is not reachable (TRACELOOM_CELERY_BROKER): {exc}", pytrace=False)
    name = f"traceloom-test-{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        with Connection(BROKER, connect_timeout=5) as conn:
            for delete in ("queue_delete", "exchange_delete"):
                channel = conn.channel()
                try:
                    getattr(channel, delete)(name)
                except Exception:  # never declared: nothing to delete
                    pass


def _world(data_dir: Path) -> None:
    generate_world(
        data_dir / "landing", data_dir / "demo" / "answer_key.json", seed=SEED, scale=SCALE
    )
    install_public_samples(data_dir)


@pytest.fixture
def celery_deployment(tmp_path: Path) -> Iterator[CeleryDeployment]:
    """Daemon, webserver and two Celery workers (names unique to this test) on fresh PostgreSQL
    databases (instance, lake catalog) and a tiny demo world. Processes, databases and the
    queue are stopped and dropped at the end, pass or fail."""
    home, data_dir, logs_dir = tmp_path / "dagster_home", tmp_path / "data", tmp_path / "logs"
    for d in (home, data_dir, logs_dir):
        d.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    _world(data_dir)

    with ExitStack() as stack:
        instance_db = stack.enter_context(_fresh_database("instance"))
        lake_db = stack.enter_context(_fresh_database("lake"))
        queue = stack.enter_context(_celery_queue())
        lake_env = {
            "TRACELOOM_LAKE_CATALOG": "postgres",
            "TRACELOOM_LAKE_PG_HOST": PG["host"],
            "TRACELOOM_LAKE_PG_PORT": str(PG["port"]),
            "TRACELOOM_LAKE_PG_USER": PG["user"],
            "TRACELOOM_LAKE_PG_DB": lake_db,
            # A folder every worker reaches (on worker machines: a shared mount or s3://).
            "TRACELOOM_LAKE_DATA_PATH": str(data_dir / "lake" / "data"),
        }
        if PG["password"]:
            lake_env["TRACELOOM_LAKE_PG_PASSWORD"] = PG["password"]
        # Create the catalog (and the audit tables) once, as a deployment does before its first
        # run: DuckLake's initialization of a fresh PostgreSQL catalog is not safe against
        # several writers attaching it at the same moment (the first steps of the run).
        with pytest.MonkeyPatch.context() as mp:
            for key, value in lake_env.items():
                mp.setenv(key, value)
            connect(data_dir).close()
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DAGSTER_", "TRACELOOM_LAKE_", "TRACELOOM_CELERY_"))
        }
        env = {
            **inherited,
            **lake_env,
            "DAGSTER_PG_HOST": PG["host"],
            "DAGSTER_PG_PORT": str(PG["port"]),
            "DAGSTER_PG_USER": PG["user"],
            "DAGSTER_PG_PASSWORD": PG["password"],
            "DAGSTER_PG_DB": instance_db,
            "DAGSTER_HOME": str(home),
            "TRACELOOM_DATA_DIR": str(data_dir),
            "TRACELOOM_EXECUTOR": "celery",
            "TRACELOOM_RUN_DAYS": RUN_DAYS,
            "TRACELOOM_CELERY_BROKER": BROKER,
            "TRACELOOM_CELERY_QUEUE": queue,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
        deploy = Deployment(
            home=home,
            data_dir=data_dir,
            port=free_port(),
            env=env,
            db_name=instance_db,
            logs_dir=logs_dir,
        )
        stack.callback(deploy.stop)  # before the databases and the queue go
        worker_script = str(PROJECT_ROOT / "deploy" / "celery" / "worker.sh")
        token = queue.rsplit("-", 1)[-1]
        workers = (f"traceloom-w1-{token}", f"traceloom-w2-{token}")
        for name in workers:
            deploy.env = {**env, "TRACELOOM_WORKER_NAME": name}
            deploy.start(name, [worker_script, "--concurrency", str(WORKER_CONCURRENCY)])
        deploy.env = env
        start_code_server_daemon_and_webserver(deploy)
        _wait_for_workers(deploy, workers)
        wait_until_loaded(deploy)
        yield CeleryDeployment(deploy, lake_env, workers)


def _wait_for_workers(deploy: Deployment, workers: tuple[str, ...]) -> None:
    """Poll (1 s) until every named worker answers a ping over the broker (it is consuming)."""
    app = Celery("traceloom-test", broker=BROKER)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        waiting = set(workers)
        while waiting and time.monotonic() < deadline:
            deploy.check_alive()
            replies = app.control.ping(timeout=1.0)
            waiting -= {node.split("@")[0] for reply in replies for node in reply}
        if waiting:
            deploy.fail(f"workers {sorted(waiting)} did not answer within {READY_TIMEOUT}s")
    finally:
        app.close()


def _reference_marts(data_dir: Path) -> dg.ExecuteInProcessResult:
    """Every asset of the main job in this process, on the embedded (SQLite) catalog."""
    return materialize_main_job(data_dir)


def _comparable(value):
    """Floats to 12 significant digits (aggregation order may differ in the last bits)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.12g}")
    return value


def _marts(data_dir: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table of schema ``marts`` in the lake the environment configures: its columns
    (wall-clock ones left out) and its rows, sorted (by ``repr``: a total order on any value)."""
    con = connect(data_dir, read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = 'lake' and table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        marts = {}
        for table in tables:
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_catalog "
                    "= 'lake' and table_schema = 'marts' and table_name = ? "
                    "order by ordinal_position",
                    [table],
                ).fetchall()
                if c not in WALL_CLOCK_COLUMNS.get(table, set())
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f'select {select} from marts."{table}"').fetchall()
            marts[table] = (
                columns,
                sorted((tuple(_comparable(v) for v in r) for r in rows), key=repr),
            )
        return marts
    finally:
        con.close()


def _first_difference(got: tuple, expected: tuple) -> str:
    """Where a mart of the Celery run differs from the reference (for the failure message)."""
    if got[0] != expected[0]:
        return f"columns {got[0]} != {expected[0]}"
    got_rows, expected_rows = got[1], expected[1]
    if len(got_rows) != len(expected_rows):
        return f"{len(got_rows)} rows != {len(expected_rows)}"
    for a, b in zip(got_rows, expected_rows, strict=True):
        if a != b:
            diff = {c: (x, y) for c, x, y in zip(got[0], a, b, strict=True) if x != y}
            return f"first differing row, column: (celery, reference): {diff}"
    return "?"


def _steps_by_worker(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    """Step key -> the node name of the Celery worker that executed it (dagster-celery's engine
    event "Executing steps ... in celery worker", written by the worker itself)."""
    executed = {}
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        metadata = entry.dagster_event.event_specific_data.metadata or {}
        if CELERY_WORKER_KEY in metadata:
            assert entry.step_key not in executed, f"{entry.step_key} executed twice"
            executed[entry.step_key] = metadata[CELERY_WORKER_KEY].value
    return executed


def _worker_of_pid(pid: int, workers: dict[str, int]) -> str | None:
    """The worker (name) whose main process is ``pid``'s parent, or None."""
    try:
        parent = psutil.Process(pid).ppid()
    except psutil.NoSuchProcess:
        return None
    return next((name for name, main in workers.items() if main == parent), None)


def test_main_job_steps_run_on_two_celery_workers(
    celery_deployment: CeleryDeployment, monkeypatch, tmp_path
):
    deploy, lake_env, names = (
        celery_deployment.deploy,
        celery_deployment.lake_env,
        celery_deployment.workers,
    )
    monkeypatch.setenv("TRACELOOM_RUN_DAYS", RUN_DAYS)  # main_run_tags(): both runs' window
    run_id = deploy.launch_main_job()

    # While the workers run it: the reference run in this process, on the embedded catalog.
    reference_started = time.monotonic()
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    _world(reference_dir)  # the same seed and scale: the same world
    for key in lake_env:
        monkeypatch.delenv(key, raising=False)
    reference = _reference_marts(reference_dir)
    assert reference.success, [
        e.step_key for e in reference.all_events if e.event_type_value == "STEP_FAILURE"
    ]
    expected = _marts(reference_dir)
    reference_seconds = time.monotonic() - reference_started

    for key in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"):
        monkeypatch.setenv(key, deploy.env[key])  # deploy/dagster.yaml reads them
    monkeypatch.setenv("DAGSTER_PG_DB", deploy.db_name)
    with DagsterInstance.from_config(str(deploy.home)) as instance:
        deploy.wait_for_run(instance, run_id, timeout=RUN_TIMEOUT)
        record = instance.get_run_record_by_id(run_id)
        run_seconds = record.end_time - record.create_timestamp.timestamp()

        # Every step ran in a Celery worker, and both workers ran steps.
        step_starts = instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
        steps = {e.step_key for e in step_starts}
        executed = _steps_by_worker(instance, run_id)
        assert set(executed) == steps and steps
        assert {node.split("@")[0] for node in executed.values()} == set(names), executed

        # ... in the worker's own pool processes: each step's events come from a child of the
        # worker that says it ran the step (worker.sh execs celery: the Popen pid is its main).
        mains = {name: deploy.procs[name].pid for name in names}
        for entry in step_starts:
            worker = executed[entry.step_key].split("@")[0]
            assert _worker_of_pid(entry.dagster_event.pid, mains) == worker, entry

    # The broker's password is in no event, run record, process log or instance file.
    if SECRET:
        with pg_connect(deploy.db_name) as con, con.cursor() as cur:
            cur.execute("select count(*) from event_logs where event like %s", [f"%{SECRET}%"])
            assert cur.fetchone()[0] == 0
            cur.execute("select count(*) from runs where run_body like %s", [f"%{SECRET}%"])
            assert cur.fetchone()[0] == 0
        files = [*deploy.logs_dir.rglob("*"), *deploy.home.rglob("*")]
        leaks = [f for f in files if f.is_file() and SECRET.encode() in f.read_bytes()]
        assert not leaks, leaks

    # The marts the workers built on the PostgreSQL catalog equal the in-process ones.
    for key, value in lake_env.items():
        monkeypatch.setenv(key, value)
    got = _marts(deploy.data_dir)
    assert sorted(got) == sorted(expected) and expected
    differing = {
        table: _first_difference(got[table], expected[table])
        for table in expected
        if got[table] != expected[table]
    }
    assert not differing, differing
    per_worker = {n: sum(node.startswith(n + "@") for node in executed.values()) for n in names}
    print(
        f"\nmain job on Celery workers: {len(steps)} steps {per_worker}, {len(expected)} marts "
        f"equal; run {run_seconds:.0f}s (queued to done), reference {reference_seconds:.0f}s"
    )
