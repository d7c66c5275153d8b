"""Production: a run worker killed mid-run frees its pool slot, and the next run starts.

On the deployment of ``conftest.py`` (``deploy/dagster.yaml`` on PostgreSQL, the real
``dagster-daemon`` with run monitoring on, and ``dagster-webserver``): the pool ``lake_writers``
is set to one slot, the main job is launched over GraphQL, and its run worker is killed with
SIGKILL while a step executes (holding the slot). Then, within generous limits:

- the run is marked FAILURE (the code server that launched the worker sees it die; the daemon's
  run monitoring is the backstop);
- nothing the worker started survives it (forkserver, steps: traceloom_pipelines/run_hygiene.py);
- the slot it held is freed (run monitoring, ``free_slots_after_run_end_seconds``);
- a run launched right after the kill, ``lake_maintenance_job`` (one step, a lake writer in the
  pool), waits for that slot -- no step of it starts while the dead run still holds it -- and
  then starts and succeeds.

The pool's limit is restored at the end, pass or fail.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import psutil
import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.events import DagsterEventType

from tests.deploy.support import (
    Deployment,
    launch_job,
    run_errors,
    run_worker_pid,
    wait_for_status,
    wait_until_idle,
)
from traceloom_pipelines.lake import LAKE_WRITERS_POOL

pytestmark = [
    pytest.mark.slow,
    # dagster_graphql's client calls gql with arguments gql deprecates.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gql"),
]

NEXT_JOB = "lake_maintenance_job"
STEP_TIMEOUT = 8 * 60  # the main job's first step executing, on a busy machine
FAILED_TIMEOUT = 3 * 60  # the dead run marked failed
GONE_TIMEOUT = 30  # the dead worker's processes gone
FREED_TIMEOUT = 4 * 60  # its slot freed: poll interval + free_slots_after_run_end_seconds, twice


def _poll(deploy: Deployment, what: str, predicate: Callable[[], object], timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            deploy.fail(f"not within {timeout}s: {what}")
        deploy.check_alive()
        time.sleep(0.5)


@contextmanager
def _pool_limit(instance: DagsterInstance, limit: int) -> Iterator[None]:
    storage = instance.event_log_storage
    before = storage.get_concurrency_info(LAKE_WRITERS_POOL)
    storage.set_concurrency_slots(LAKE_WRITERS_POOL, limit)
    try:
        yield
    finally:
        if before.using_default_limit or before.limit is None:
            storage.delete_concurrency_limit(LAKE_WRITERS_POOL)
        else:
            storage.set_concurrency_slots(LAKE_WRITERS_POOL, before.limit)


def _holding(instance: DagsterInstance) -> set[str]:
    """Run ids holding (or queued for) a ``lake_writers`` slot."""
    info = instance.event_log_storage.get_concurrency_info(LAKE_WRITERS_POOL)
    return {s.run_id for s in info.claimed_slots} | {s.run_id for s in info.pending_steps}


def _executing_steps(instance: DagsterInstance, run_id: str) -> dict[str, int]:
    """Steps of the run executing (STEP_START seen, not finished) whose process is alive.

    Returns step key -> pid of the step's process. A step whose worker started but which has
    not emitted STEP_START (still claiming its pool slot) is not executing yet: a kill then
    would interrupt no step.
    """
    workers: dict[str, int] = {}
    executing: set[str] = set()
    finished: set[str] = set()
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not entry.step_key:
            continue
        if event.event_type == DagsterEventType.STEP_WORKER_STARTED:
            workers[entry.step_key] = int(event.event_specific_data.metadata["pid"].value)
        elif event.event_type == DagsterEventType.STEP_START:
            executing.add(entry.step_key)
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            finished.add(entry.step_key)
    return {
        key: pid
        for key, pid in workers.items()
        if key in executing and key not in finished and psutil.pid_exists(pid)
    }


def _freeze_executing_steps(instance: DagsterInstance, run_id: str) -> dict[str, int]:
    """Stop (SIGSTOP) the run's executing steps, then return those still unfinished: a step
    of the tiny world lands in well under a second, so without freezing it the kill that follows
    can come after it finished (and interrupt nothing). Steps that finished before the freeze are
    continued (SIGCONT). A stopped step still dies with its run (the kernel's SIGKILL)."""
    executing = _executing_steps(instance, run_id)
    for pid in executing.values():
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    unfinished = _executing_steps(instance, run_id)
    for key, pid in executing.items():
        if key not in unfinished:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    return unfinished


def _steps_started(instance: DagsterInstance, run_id: str) -> int:
    return len(instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_START).records)


def _gone(pids) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


@pytest.mark.chaos
def test_a_killed_run_worker_frees_its_slot_and_the_next_run_starts(
    deployment: Deployment, instance: DagsterInstance, chaos
):
    assert instance.run_monitoring_enabled
    wait_until_idle(deployment, instance)
    with _pool_limit(instance, 1):
        killed = deployment.launch_main_job()
        executing = _poll(
            deployment,
            f"a step of run {killed} executing, frozen before it finishes",
            lambda: _freeze_executing_steps(instance, killed),
            STEP_TIMEOUT,
        )
        worker = run_worker_pid(instance, killed)
        assert worker and psutil.pid_exists(worker)
        tree = {p.pid for p in psutil.Process(worker).children(recursive=True)}
        assert set(executing.values()) <= tree, "the steps are not the run worker's"
        assert killed in _holding(instance)

        os.kill(worker, signal.SIGKILL)
        after = launch_job(deployment, NEXT_JOB)

        status = wait_for_status(
            deployment,
            instance,
            killed,
            {DagsterRunStatus.FAILURE, DagsterRunStatus.SUCCESS, DagsterRunStatus.CANCELED},
            FAILED_TIMEOUT,
        )
        assert status == DagsterRunStatus.FAILURE, run_errors(instance, killed)
        # The frozen step never finished: the kill interrupted it.
        started, succeeded = (
            {e.step_key for e in instance.all_logs(killed, of_type=event_type)}
            for event_type in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS)
        )
        assert started - succeeded, f"every started step had succeeded: {sorted(started)}"
        _poll(
            deployment,
            f"every process of the killed run worker gone: {sorted(tree)}",
            lambda: _gone(tree),
            GONE_TIMEOUT,
        )

        def freed() -> bool:
            # the next run's steps read first: if one had started while the dead run still held
            # the only slot, the pool would not be a limit.
            started = _steps_started(instance, after)
            held = killed in _holding(instance)
            assert not (started and held), f"run {after} started a step beside the dead run"
            return not held

        _poll(deployment, f"the lake_writers slot of run {killed} freed", freed, FREED_TIMEOUT)
        deployment.wait_for_run(instance, after)
        chaos.record(
            "kill -9 of a run worker holding the only pool slot (production instance)",
            blocked=int(killed in _holding(instance))
            + int(instance.get_run_by_id(after).status != DagsterRunStatus.SUCCESS),
        )
        assert killed not in _holding(instance)
