"""Runs that died are marked failed, give their pool slots back, and leave no process writing.

Three layers, from the inside out:

- dbt dies with the step that started it: ``dbt_executable()`` is the ``traceloom-dbt``
  supervisor (traceloom_pipelines/dbt_child.py), and a dbt step kills it when it leaves.
- Steps die with their run: the multiprocess executor forks each step from a forkserver, which
  Python keeps up as long as any step lives, so on its own a step outlives a killed run.
  ``steps_die_with_their_run`` (called when traceloom_pipelines.dbt is imported, which the
  forkserver does when it preloads the definitions) has the kernel kill the forkserver when the
  run's process (``traceloom run``, a run worker) dies, and every step when the forkserver dies;
  the step's dbt goes with the step.
- The run is marked failed. With the daemon (``make dev``, ``make serve``), the code server that
  launched the run worker reports the run failed as soon as the worker is gone, and run monitoring
  (both ``dagster.yaml`` files) frees its ``lake_writers`` slots. ``traceloom run`` has no daemon:
  each run it starts is tagged with this host and process id, and the next ``traceloom run``
  (``fail_orphaned_local_runs``) kills what is left of the runs whose process is gone (a
  ``kill -9``, a power cut), marks them failed and frees their slots.

Process identity is the pid *and* its start time (``/proc``), so a recycled pid is not mistaken
for the process that ran a run.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import dagster as dg

from traceloom_pipelines.dbt_child import set_parent_death_signal

HOST_TAG = "traceloom/host"
PID_TAG = "traceloom/pid"
_UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]
# Process start times (/proc, 10 ms ticks) against run and event timestamps (written a moment
# after the fact): how far apart they may be and still be the same process.
START_TIME_TOLERANCE_S = 1.0
STEP_EXIT_TIMEOUT_S = 10.0


def local_run_tags() -> dict[str, str]:
    """Tags naming the process that executes a run started by ``traceloom run``."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started, in seconds since the epoch (from ``/proc``: its start in
    clock ticks after boot, against the uptime now; to about 10 ms); None if there is no such
    process, or no ``/proc`` to ask (not Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        now = time.time()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError):
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses; starttime is field 22.
    ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
    return now - uptime + ticks / os.sysconf("SC_CLK_TCK")


def _pid_exists(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (dead, waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return not Path("/proc/self/stat").exists()  # gone meanwhile, or no /proc to ask
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def _same_process(pid: int, not_after: float) -> bool:
    """Whether a process ``pid`` exists that started no later than ``not_after`` (epoch seconds,
    within the tolerance): one that started later reuses the pid of the one we look for."""
    if pid <= 0 or not _pid_exists(pid):
        return False
    started = process_start_time(pid)
    return started is None or started <= not_after + START_TIME_TOLERANCE_S


FORKSERVER_DEATH_SIGNAL = signal.SIGUSR2


def _in_forkserver_main() -> bool:
    """Whether this code runs in a ``multiprocessing`` forkserver itself (its ``main`` is on the
    stack: it is importing its preload modules), not in a process it forked (``_serve_one``)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "multiprocessing.forkserver":
            if frame.f_code.co_name == "_serve_one":
                return False
            if frame.f_code.co_name == "main":
                return True
        frame = frame.f_back
    return False


def _die_with_forkserver() -> None:
    # In every process the forkserver forks (a step): SIGKILL when the forkserver exits.
    signal.signal(FORKSERVER_DEATH_SIGNAL, signal.SIG_DFL)
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != _forkserver_pid[0]:  # the forkserver died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


_forkserver_pid = [0]


def steps_die_with_their_run() -> None:
    """In a ``multiprocessing`` forkserver (the multiprocess executor's, which imports this while
    preloading the definitions): make it, and every process it forks from now on (the steps),
    die by SIGKILL when the process that started it (the run's process: ``traceloom run``, a run
    worker) dies. Without this they live on: each step holds the forkserver open.

    The forkserver gets ``FORKSERVER_DEATH_SIGNAL`` from the kernel when the thread that started
    it exits (``prctl(PR_SET_PDEATHSIG)``) and kills itself only if its parent process is gone;
    each step gets SIGKILL when the forkserver exits. Anywhere else (not in a forkserver, or in a
    process it forked) a no-op; Linux only; idempotent.
    """
    if _forkserver_pid[0] or not _in_forkserver_main():
        return
    starter = os.getppid()

    def on_parent_death(_signum, _frame) -> None:
        if os.getppid() != starter:  # not just the starting thread: the run's process is gone
            os.kill(os.getpid(), signal.SIGKILL)

    signal.signal(FORKSERVER_DEATH_SIGNAL, on_parent_death)
    if not set_parent_death_signal(FORKSERVER_DEATH_SIGNAL):
        signal.signal(FORKSERVER_DEATH_SIGNAL, signal.SIG_DFL)
        return
    _forkserver_pid[0] = os.getpid()
    os.register_at_fork(after_in_child=_die_with_forkserver)
    if os.getppid() != starter:  # the run's process died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


def _step_processes(instance: dg.DagsterInstance, run_id: str) -> dict[int, float]:
    """The step processes the run's events name (``STEP_WORKER_STARTED``): pid -> when the
    event was written (epoch seconds)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED, limit=10_000
    ).records
    pids: dict[int, float] = {}
    for record in records:
        entry = record.event_log_entry
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        pid = getattr((getattr(data, "metadata", None) or {}).get("pid"), "value", None)
        if pid and str(pid).isdigit():
            pids[int(pid)] = entry.timestamp
    return pids


def _is_local_step(pid: int, created: float, logged: float) -> bool:
    """A step process of this host's run: a ``multiprocessing`` child (forkserver or spawn)
    that started after the run was created and before its start was logged."""
    started = process_start_time(pid)
    if started is None or not (
        created - START_TIME_TOLERANCE_S <= started <= logged + START_TIME_TOLERANCE_S
    ):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"from multiprocessing." in cmdline


def kill_leftover_steps(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[int]:
    """SIGKILL the step processes of ``run`` still alive on this host (normally none: they die
    with the run's forkserver) and wait up to ``STEP_EXIT_TIMEOUT_S`` seconds for them to be
    gone; their pids. Their dbt dies with them (``traceloom-dbt``)."""
    record = instance.get_run_record_by_id(run.run_id)
    created = record.create_timestamp.timestamp() if record else 0.0
    killed = []
    for pid, logged in _step_processes(instance, run.run_id).items():
        if _pid_exists(pid) and _is_local_step(pid, created, logged):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.append(pid)
    deadline = time.monotonic() + STEP_EXIT_TIMEOUT_S
    while any(_pid_exists(p) for p in killed) and time.monotonic() < deadline:
        time.sleep(0.1)
    return killed


def fail_orphaned_local_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every unfinished run (not started, starting, started, canceling) started on
    this host by a ``traceloom run`` process that no longer exists, after killing any of its
    step processes still alive (``kill_leftover_steps``), and free its concurrency slots (pool
    ``lake_writers``); return their run ids.

    A process counts as the run's only if it started before the run was created, so a pid reused
    since is not taken for it; this process's own pid is therefore never a live owner here
    (``traceloom run`` calls this before it starts its run). Runs of other hosts, and runs
    without the tags of ``local_run_tags()``, are left alone.
    """
    host = socket.gethostname()
    failed = []
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=_UNFINISHED, tags={HOST_TAG: host})
    )
    for record in records:
        run = record.dagster_run
        pid_tag = run.tags.get(PID_TAG, "")
        pid = int(pid_tag) if pid_tag.isdigit() else 0
        created = record.create_timestamp.timestamp()
        if pid != os.getpid() and _same_process(pid, not_after=created):
            continue
        kill_leftover_steps(instance, run)
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.is_finished:  # another `traceloom run` was quicker
            continue
        instance.report_run_failed(
            current,
            message=f"the process that ran it (pid {pid} on {host}) is gone: marked failed by "
            "the next `traceloom run`",
        )
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
    _free_slots_of_finished_local_runs(instance, host)
    return failed


def _free_slots_of_finished_local_runs(instance: dg.DagsterInstance, host: str) -> None:
    """Slots still claimed by finished runs of this host (one marked failed by a ``traceloom
    run`` that died before it freed them): the daemon's run monitoring does this elsewhere."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    holding = storage.get_concurrency_run_ids()
    if not holding:
        return
    finished = instance.get_run_records(
        filters=dg.RunsFilter(
            run_ids=list(holding),
            statuses=_FINISHED,
            tags={HOST_TAG: host},
        )
    )
    for record in finished:
        storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
