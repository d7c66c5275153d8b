"""The production deployment shared by every test in ``tests/deploy`` (package scope).

One deployment for the package: a fresh PostgreSQL database (dropped at the end), a temporary
DAGSTER_HOME holding a copy of ``deploy/dagster.yaml``, a tiny demo world, and the real
``dagster-webserver`` and ``dagster-daemon run`` processes on loopback, exactly as ``make serve``
starts them. The GraphQL tests (test_production_instance.py) and the browser test
(test_ui_backfill.py) talk to the same processes, so the suite starts one webserver and one daemon.
An unreachable PostgreSQL fails the tests, it does not skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from tests.deploy.support import (
    IN_FLIGHT,
    PG,
    VENV_BIN,
    Deployment,
    free_port,
    pg_connect,
    start_code_server_daemon_and_webserver,
    wait_until_loaded,
)
from traceloom_pipelines.cli import install_public_samples
from traceloom_pipelines.definitions import MAIN_JOB
from traceloom_pipelines.demo import generate_world
from traceloom_pipelines.resources import PROJECT_ROOT


@pytest.fixture(scope="package")
def pg_database() -> Iterator[str]:
    """A fresh, uniquely named database, dropped (with any connection left) at the end."""
    try:
        admin = pg_connect("postgres")
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


@pytest.fixture(scope="package")
def deployment(pg_database: str, tmp_path_factory) -> Iterator[Deployment]:
    """Webserver + daemon on a fresh PostgreSQL-backed instance and a tiny demo world (seed 3,
    scale 0.001, as_of today 00:00 UTC); stopped, process groups and all, at the end."""
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
        port=free_port(),
        env=env,
        db_name=pg_database,
        logs_dir=logs_dir,
    )
    with pytest.MonkeyPatch.context() as mp:
        for key, value in pg_env.items():  # the test process builds the same instance
            mp.setenv(key, value)
        try:
            start_code_server_daemon_and_webserver(deploy)
            wait_until_loaded(deploy)
            yield deploy
        finally:
            deploy.stop()


@pytest.fixture(scope="package")
def instance(deployment: Deployment) -> Iterator[DagsterInstance]:
    """The instance the processes use, read from the same DAGSTER_HOME (so: from PostgreSQL)."""
    with DagsterInstance.from_config(str(deployment.home)) as inst:
        yield inst


@pytest.fixture
def main_job_succeeded(deployment: Deployment, instance: DagsterInstance) -> str:
    """The id of a successful main-job run on the instance: the one already there (the GraphQL
    test runs first), else one launched now with ``main_run_tags()`` and waited for, so a test
    that needs the built warehouse also passes on its own (``pytest tests/deploy -k browser``)."""
    in_flight = instance.get_runs(RunsFilter(job_name=MAIN_JOB, statuses=IN_FLIGHT), limit=1)
    if in_flight:
        deployment.wait_for_run(instance, in_flight[0].run_id)
    done = instance.get_runs(
        RunsFilter(job_name=MAIN_JOB, statuses=[DagsterRunStatus.SUCCESS]), limit=1
    )
    if done:
        return done[0].run_id
    run_id = deployment.launch_main_job()
    deployment.wait_for_run(instance, run_id)
    return run_id
