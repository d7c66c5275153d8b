"""Run hygiene on this machine, for real: processes are started, killed and watched.

- dbt dies with the step that started it (``traceloom-dbt``, traceloom_pipelines/dbt_child.py):
  the step killed with SIGKILL, the step exiting, and not when only the step's *thread* that
  started dbt exits. A fake dbt (``$TRACELOOM_DBT_EXECUTABLE``) that starts a child of its own
  stands in for dbt here; the last test runs the real one.
- Steps die with their run: processes a forkserver forks die when the run's process dies
  (``steps_die_with_their_run``); without it they live on.
- ``fail_orphaned_local_runs`` on a real instance: which runs it fails, pid reuse, leftover step
  processes, pool slots.
- End to end: ``traceloom run`` killed with SIGKILL while dbt builds; nothing of it survives; the
  next ``traceloom run`` marks it failed, frees its ``lake_writers`` slot and succeeds; the raw
  tables hold what an uninterrupted run lands.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import psutil
import pytest
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.events.log import EventLogEntry
from dagster._core.execution.stats import StepEventStatus

from traceloom_pipelines.dbt import _stream, dbt_executable
from traceloom_pipelines.dbt_child import PARENT_PID_ENV as DBT_PARENT_PID_ENV
from traceloom_pipelines.dbt_child import REAL_DBT_ENV
from traceloom_pipelines.lake import LAKE_WRITERS_POOL
from traceloom_pipelines.partitions import MAIN_RUN_DAYS_ENV
from traceloom_pipelines.resources import PROJECT_ROOT
from traceloom_pipelines.run_hygiene import HOST_TAG, PID_TAG, fail_orphaned_local_runs

VENV_BIN = Path(sys.executable).parent
DEATH_TIMEOUT_S = 15  # a killed process tree is gone well within this
STARTUP_TIMEOUT_S = 60  # a small Python script is up and has written its pids


# ---------------------------------------------------------------------------------------------
# helpers


def wait_for(what: str, predicate: Callable[[], object], timeout: float, every: float = 0.1):
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout}s: {what}", pytrace=False)
        time.sleep(every)


def _process(p: psutil.Process | int) -> psutil.Process:
    return p if isinstance(p, psutil.Process) else psutil.Process(p)


def running(p: psutil.Process | int) -> bool:
    """Alive and not a zombie (a killed process whose parent has not reaped it yet). A
    ``psutil.Process`` is the process it was made for: not one that reuses its pid since."""
    try:
        process = _process(p)
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def all_gone(processes) -> bool:
    return not any(running(p) for p in processes)


def kill_all(processes) -> None:
    """SIGKILL each that still runs (a ``psutil.Process``: unless its pid was reused)."""
    for p in processes:
        try:
            _process(p).kill()
        except psutil.Error:
            pass


FAKE_DBT = """\
#!{python}
# Stands in for dbt: starts a child of its own, writes both pids, then works for a long time.
import json, os, subprocess, sys, time
if sys.argv[1:] == ["--version"]:
    print("Core:\\n  - installed: 1.11.16")
    sys.exit(0)
child = subprocess.Popen(["sleep", "600"])
with open(os.environ["FAKE_DBT_PIDS"] + ".tmp", "w") as f:
    json.dump({{"dbt": os.getpid(), "dbt_child": child.pid}}, f)
os.rename(os.environ["FAKE_DBT_PIDS"] + ".tmp", os.environ["FAKE_DBT_PIDS"])
print("fake dbt working", flush=True)
time.sleep(600)
"""

# The "step": starts dbt the way dagster-dbt does (subprocess.Popen from the calling thread), from
# the main thread or from a thread that then ends; then lives on, or exits when told to.
STEP = """\
import os, subprocess, sys, threading, time
mode, dbt = sys.argv[1], sys.argv[2]
started = {{}}
def start():
    started["dbt"] = subprocess.Popen([dbt, "build"], stdout=subprocess.DEVNULL)
if mode == "thread":
    worker = threading.Thread(target=start)
    worker.start()
    worker.join()  # the thread that forked dbt is gone; the process lives on
else:
    start()
print(started["dbt"].pid, flush=True)
while not os.path.exists({pids!r}):
    time.sleep(0.05)
while mode == "exit" and not os.path.exists({pids!r} + ".exit"):
    time.sleep(0.05)
if mode == "exit":
    os._exit(0)
time.sleep(600)
"""


@pytest.fixture
def fake_dbt(tmp_path: Path, monkeypatch) -> Path:
    """A fake dbt as ``$TRACELOOM_DBT_EXECUTABLE``; the path of the pids file it writes."""
    script = tmp_path / "fake_dbt"
    script.write_text(FAKE_DBT.format(python=sys.executable))
    script.chmod(0o755)
    pids = tmp_path / "fake_dbt_pids.json"
    monkeypatch.setenv(REAL_DBT_ENV, str(script))
    monkeypatch.setenv("FAKE_DBT_PIDS", str(pids))
    return pids


def _start_step(tmp_path: Path, fake_dbt: Path, mode: str) -> tuple[subprocess.Popen, dict]:
    script = tmp_path / "step.py"
    script.write_text(STEP.format(pids=str(fake_dbt)))
    step = subprocess.Popen(
        [sys.executable, str(script), mode, dbt_executable()], stdout=subprocess.PIPE, text=True
    )
    supervisor = int(step.stdout.readline())
    wait_for("the fake dbt wrote its pids", fake_dbt.exists, STARTUP_TIMEOUT_S)
    pids = {"step": step.pid, "supervisor": supervisor, **json.loads(fake_dbt.read_text())}
    return step, {name: psutil.Process(pid) for name, pid in pids.items()}


# ---------------------------------------------------------------------------------------------
# 1. dbt dies with its step


def test_dbt_executable_is_the_supervisor():
    assert Path(dbt_executable()) == VENV_BIN / "traceloom-dbt"


@pytest.mark.parametrize("mode", ["kill -9", "exit"])
def test_dbt_and_its_children_die_with_the_step(tmp_path, fake_dbt, mode):
    step, pids = _start_step(tmp_path, fake_dbt, "exit" if mode == "exit" else "main")
    try:
        dbt = pids["dbt"]
        assert dbt.ppid() == pids["supervisor"].pid
        assert os.getpgid(dbt.pid) == dbt.pid, "dbt leads a process group of its own"
        assert os.getpgid(pids["dbt_child"].pid) == dbt.pid, "dbt's children are in it"
        if mode == "kill -9":
            step.kill()
        else:
            Path(f"{fake_dbt}.exit").touch()
        step.wait(timeout=DEATH_TIMEOUT_S)
        wait_for(
            f"supervisor, dbt and dbt's child gone after the step's {mode}",
            lambda: all_gone([pids["supervisor"], pids["dbt"], pids["dbt_child"]]),
            DEATH_TIMEOUT_S,
        )
    finally:
        kill_all(pids.values())
        step.wait()


def test_dbt_outlives_the_thread_that_started_it_but_not_the_process(tmp_path, fake_dbt):
    """PR_SET_PDEATHSIG fires when the *thread* that forked exits: the supervisor must not take
    that for the death of the step."""
    step, pids = _start_step(tmp_path, fake_dbt, "thread")
    try:
        time.sleep(2)  # the signal for the thread's exit has long arrived
        assert all(running(p) for p in pids.values()), "dbt died with a thread of its step"
        step.kill()
        step.wait(timeout=DEATH_TIMEOUT_S)
        wait_for(
            "supervisor, dbt and dbt's child gone after the step's kill -9",
            lambda: all_gone([pids["supervisor"], pids["dbt"], pids["dbt_child"]]),
            DEATH_TIMEOUT_S,
        )
    finally:
        kill_all(pids.values())
        step.wait()


def test_supervisor_passes_arguments_output_exit_code_and_interrupts_through(tmp_path):
    script = tmp_path / "dbt"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import sys, time
            try:  # the interrupt may come as soon as the arguments are printed
                print("args", sys.argv[1:], flush=True)
                if sys.argv[1:2] == ["wait"]:
                    time.sleep(60)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(130)
            sys.exit(3)
            """
        )
    )
    script.chmod(0o755)
    env = {**os.environ, REAL_DBT_ENV: str(script)}
    done = subprocess.run(
        [dbt_executable(), "build", "--select", "a b"], env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (3, "args ['build', '--select', 'a b']\n")

    # dagster-dbt interrupts dbt with SIGINT: it reaches dbt, dbt's exit code comes back.
    waiting = subprocess.Popen(
        [dbt_executable(), "wait"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert waiting.stdout.readline() == "args ['wait']\n"
    waiting.send_signal(signal.SIGINT)
    assert waiting.wait(timeout=DEATH_TIMEOUT_S) == 130
    assert waiting.stdout.read() == "interrupted\n"


def test_supervisor_does_not_start_dbt_for_a_step_that_is_already_gone(fake_dbt):
    """The step died between starting ``traceloom-dbt`` and its ``prctl``: the step's pid (which
    the step puts in ``$TRACELOOM_DBT_PARENT_PID``) is not the parent's, and is gone."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    env = {**os.environ, DBT_PARENT_PID_ENV: str(gone.pid)}
    done = subprocess.run([dbt_executable(), "build"], env=env, capture_output=True, text=True)
    assert done.returncode == 128 + signal.SIGKILL
    assert "is gone; not starting" in done.stderr
    assert not fake_dbt.exists(), "dbt was started"

    # A value inherited from a live ancestor (not the parent) is stale, not a death.
    env[DBT_PARENT_PID_ENV] = "1"
    started = subprocess.Popen([dbt_executable(), "build"], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for("the fake dbt wrote its pids", fake_dbt.exists, STARTUP_TIMEOUT_S)
    finally:
        started.terminate()
        assert started.wait(timeout=DEATH_TIMEOUT_S) == 128 + signal.SIGTERM


class _Invocation:
    """What ``_stream`` uses of a DbtCliInvocation: the process, and events that break off."""

    def __init__(self, process: subprocess.Popen, target_path: Path):
        self.process = process
        self.target_path = target_path  # dbt_targets.new_target's folder

    def stream(self) -> Iterator[str]:
        yield "event"
        raise RuntimeError("the step fails while dbt runs")


def test_a_dbt_step_that_fails_stops_dbt_before_it_lets_go(tmp_path, fake_dbt):
    """In-process execution: the step process lives on after the step, and releases the lake
    lock right after; dbt must be gone by then."""
    supervisor = subprocess.Popen([dbt_executable(), "build"], stdout=subprocess.DEVNULL)
    pids = {"supervisor": psutil.Process(supervisor.pid)}
    try:
        wait_for("the fake dbt wrote its pids", fake_dbt.exists, STARTUP_TIMEOUT_S)
        pids.update({k: psutil.Process(v) for k, v in json.loads(fake_dbt.read_text()).items()})
        target = tmp_path / "dbt" / "target" / "traceloom_dbt_models-test"
        target.mkdir(parents=True)
        events = _stream(None, _Invocation(supervisor, target))
        assert next(events) == "event"
        with pytest.raises(RuntimeError, match="the step fails"):
            next(events)
        assert supervisor.poll() is not None, "the supervisor is still running"
        wait_for(
            "dbt and dbt's child gone",
            lambda: all_gone([pids["dbt"], pids["dbt_child"]]),
            DEATH_TIMEOUT_S,
        )
    finally:
        kill_all(pids.values())
        supervisor.wait()


# ---------------------------------------------------------------------------------------------
# 2. steps die with their run

ORCHESTRATOR = """\
import json, multiprocessing, sys, time
if __name__ == "__main__":
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([sys.argv[1]])
    step = ctx.Process(target=time.sleep, args=(600,))
    step.start()
    print(json.dumps({"step": step.pid}), flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("installed", [True, False], ids=["steps_die_with_their_run", "without"])
def test_forkserver_steps_die_with_the_run_process(tmp_path, installed):
    (tmp_path / "orchestrator.py").write_text(ORCHESTRATOR)
    (tmp_path / "with_hygiene.py").write_text(
        "from traceloom_pipelines.run_hygiene import steps_die_with_their_run\n"
        "steps_die_with_their_run()\n"
    )
    (tmp_path / "without_hygiene.py").write_text("import traceloom_pipelines.run_hygiene\n")
    preload = "with_hygiene" if installed else "without_hygiene"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{PROJECT_ROOT}"}
    run = subprocess.Popen(
        [sys.executable, "orchestrator.py", preload],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    step = psutil.Process(json.loads(run.stdout.readline())["step"])
    forkserver = psutil.Process(step.ppid())
    try:
        assert forkserver.ppid() == run.pid
        time.sleep(1)
        assert running(step) and running(forkserver), "nothing dies while the run lives"
        run.kill()
        run.wait()
        if installed:
            wait_for(
                "the forkserver and its step gone after the run's kill -9",
                lambda: all_gone([step, forkserver]),
                DEATH_TIMEOUT_S,
            )
        else:  # Python's forkserver stays up while a step holds it; the step lives on
            time.sleep(2)
            assert running(step) and running(forkserver)
    finally:
        kill_all([step, forkserver])
        run.wait()


# ---------------------------------------------------------------------------------------------
# fail_orphaned_local_runs on a real (temporary) instance


def _add_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    run = instance.create_run_for_job(
        dg.GraphDefinition(name="g", node_defs=[]).to_job(name="j"), tags=tags
    )
    instance.handle_run_event(
        run.run_id, DagsterEvent("PIPELINE_START", job_name="j", message="started")
    )
    return run.run_id


def _log_step_worker(instance: dg.DagsterInstance, run_id: str, pid: int) -> None:
    event = DagsterEvent(
        "STEP_WORKER_STARTED",
        job_name="j",
        step_key="land_x",
        event_specific_data=EngineEventData(metadata={"pid": dg.MetadataValue.text(str(pid))}),
    )
    instance.store_event(
        EventLogEntry(
            error_info=None,
            level="DEBUG",
            user_message="",
            run_id=run_id,
            timestamp=time.time(),
            step_key="land_x",
            job_name="j",
            dagster_event=event,
        )
    )


def test_fail_orphaned_local_runs(tmp_path):
    host = socket.gethostname()
    sleepers = []

    def sleeper(*args) -> int:
        proc = subprocess.Popen(list(args) or ["sleep", "120"])
        sleepers.append(proc)
        return proc.pid

    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
            storage = instance.event_log_storage
            storage.set_concurrency_slots(LAKE_WRITERS_POOL, 4)
            alive_pid = sleeper()  # started before its run was created: the run's owner
            alive = _add_run(instance, {HOST_TAG: host, PID_TAG: str(alive_pid)})
            dead = _add_run(instance, {HOST_TAG: host, PID_TAG: str(gone.pid)})
            mine = _add_run(instance, {HOST_TAG: host, PID_TAG: str(os.getpid())})
            elsewhere = _add_run(instance, {HOST_TAG: "another-host", PID_TAG: str(gone.pid)})
            untagged = _add_run(instance, {})
            reused = _add_run(instance, {HOST_TAG: host})
            time.sleep(1.5)  # > START_TIME_TOLERANCE_S
            # a process started after the run was created cannot be the one that ran it
            instance.add_run_tags(reused, {PID_TAG: str(sleeper())})
            # a step process of the dead run, still alive (its forkserver did not kill it)
            step_pid = sleeper(
                sys.executable,
                "-c",
                "from multiprocessing.forkserver import main; import time; time.sleep(120)",
            )
            _log_step_worker(instance, dead, step_pid)
            # ... and an unrelated process whose pid the dead run's events also name
            _log_step_worker(instance, dead, alive_pid)
            for run_id in (alive, dead, mine):
                storage.claim_concurrency_slot(LAKE_WRITERS_POOL, run_id, "land_x")
            assert {
                s.run_id for s in storage.get_concurrency_info(LAKE_WRITERS_POOL).claimed_slots
            } == {alive, dead, mine}

            failed = fail_orphaned_local_runs(instance)

            assert sorted(failed) == sorted([dead, mine, reused])
            status = {
                r: instance.get_run_by_id(r).status
                for r in (alive, dead, mine, elsewhere, untagged, reused)
            }
            assert status == {
                alive: dg.DagsterRunStatus.STARTED,
                dead: dg.DagsterRunStatus.FAILURE,
                mine: dg.DagsterRunStatus.FAILURE,
                elsewhere: dg.DagsterRunStatus.STARTED,
                untagged: dg.DagsterRunStatus.STARTED,
                reused: dg.DagsterRunStatus.FAILURE,
            }
            claimed = storage.get_concurrency_info(LAKE_WRITERS_POOL).claimed_slots
            assert {s.run_id for s in claimed} == {alive}
            assert not running(step_pid), "the dead run's step process was left running"
            assert running(alive_pid), "a process that is not the run's step was killed"
            assert fail_orphaned_local_runs(instance) == []  # nothing twice
    finally:
        kill_all(p.pid for p in sleepers)
        for proc in sleepers:
            proc.wait()


# ---------------------------------------------------------------------------------------------
# 3. end to end: `traceloom run` killed while dbt builds

RUN_TIMEOUT_S = 15 * 60  # one run of the main job on the tiny world, on a busy machine


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _runs(process: psutil.Process, name: str) -> bool:
    """Whether ``process`` is ``name`` (``dbt`` or ``traceloom-dbt``) running ``dbt build``."""
    try:
        args = process.cmdline()
    except psutil.Error:
        return False
    return any(Path(a).name == name for a in args[:2]) and "build" in args


def _dbt_processes_on(data_dir: Path) -> list[psutil.Process]:
    """Every live dbt or traceloom-dbt process on this machine that works on ``data_dir``."""
    found = []
    for process in psutil.process_iter():
        try:
            if not (_runs(process, "dbt") or _runs(process, "traceloom-dbt")):
                continue
            if process.environ().get("TRACELOOM_DATA_DIR") == str(data_dir) and running(
                process.pid
            ):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _raw_counts(data_dir: Path) -> dict[str, int]:
    from traceloom_pipelines.landing.warehouse import connect

    con = connect(data_dir, read_only=True)
    try:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
        return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for (t,) in tables}
    finally:
        con.close()


def _landed_per_entity(data_dir: Path, entities: list[str]) -> dict[str, int]:
    """Rows in raw per ``tenant/system/entity`` of the answer key."""
    from traceloom_pipelines.landing.warehouse import connect

    con = connect(data_dir, read_only=True)
    try:
        counts = {}
        for key in entities:
            tenant, system, entity = key.split("/")
            counts[key] = con.execute(
                f"select count(*) from raw.{system}__{entity} where tenant_id = ?", [tenant]
            ).fetchone()[0]
        return counts
    finally:
        con.close()


def _claimed_by(instance: dg.DagsterInstance) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info(LAKE_WRITERS_POOL)
    return {s.run_id for s in info.claimed_slots} | {s.run_id for s in info.pending_steps}


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.mark.slow
@pytest.mark.chaos
def test_a_killed_traceloom_run_is_failed_cleaned_up_and_rerun(tmp_path, monkeypatch, chaos):
    from traceloom_pipelines.cli import install_public_samples
    from traceloom_pipelines.demo import generate_world

    home, data = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    key = generate_world(data / "landing", data / "demo" / "answer_key.json", seed=11, scale=0.002)
    install_public_samples(data)
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance of both runs, and of this test
    # The daily marts of the last two days only (not the suite's 31): raw is what is compared, and
    # the daily dbt step's empty day batches would only make the two runs slower.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", MAIN_RUN_DAYS_ENV: "2"}
    command = [str(VENV_BIN / "traceloom"), "--data-dir", str(data), "run", "--no-demo"]
    first_log = tmp_path / "first_run.log"
    with first_log.open("wb") as log:
        first = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    tree: dict[int, psutil.Process] = {}  # every process the first run started
    try:

        def dbt_building() -> psutil.Process | None:
            if first.poll() is not None:
                pytest.fail(
                    f"the first run ended ({first.returncode}) before dbt started:\n"
                    + _tail(first_log),
                    pytrace=False,
                )
            processes = _descendants(first.pid)
            tree.update((p.pid, p) for p in processes if p.pid not in tree)
            return next((p for p in processes if _runs(p, "dbt")), None)

        dbt = wait_for("dbt building under the first run", dbt_building, RUN_TIMEOUT_S, 0.5)
        supervisor = psutil.Process(dbt.ppid())
        assert _runs(supervisor, "traceloom-dbt"), "dbt does not run under its supervisor"
        time.sleep(3)  # dbt is at work on the lake
        tree.update((p.pid, p) for p in _descendants(first.pid) if p.pid not in tree)
        assert dbt.pid in tree and supervisor.pid in tree

        with dg.DagsterInstance.from_config(str(home)) as instance:
            (killed,) = instance.get_runs(dg.RunsFilter(tags={PID_TAG: str(first.pid)}))
            # dbt needs every landing step: all of them succeeded, uninterrupted
            steps = instance.get_run_step_stats(killed.run_id)
            landing = [s for s in steps if s.step_key.startswith("land_")]
            assert landing and all(s.status == StepEventStatus.SUCCESS for s in landing)
            assert killed.run_id in _claimed_by(instance), "the dbt step holds no lake_writers slot"

            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            wait_for(
                "every process of the killed run gone (forkserver, steps, traceloom-dbt, dbt)",
                lambda: all_gone(tree.values()),
                DEATH_TIMEOUT_S,
            )
            assert _dbt_processes_on(data) == []
            killed = instance.get_run_by_id(killed.run_id)
            assert killed.status == dg.DagsterRunStatus.STARTED
            assert killed.run_id in _claimed_by(instance)
            raw_at_kill = _raw_counts(data)

            # The rerun builds the staging layer and the seeds its tests read (a dbt step under
            # the lake_writers pool, as the killed one was): the rest of the project would prove
            # nothing more here.
            second = subprocess.run(
                [*command, "--all", "--select", 'key:"staging/*" or key:"reference/*"'],
                env=env,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
            )
            assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-5000:]
            assert f"run {killed.run_id}: its process is gone; marked failed" in second.stdout

            assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
            assert killed.run_id not in _claimed_by(instance)
            (rerun,) = [
                r
                for r in instance.get_runs(dg.RunsFilter(tags={HOST_TAG: socket.gethostname()}))
                if r.run_id != killed.run_id
            ]
            assert rerun.status == dg.DagsterRunStatus.SUCCESS
            assert _claimed_by(instance) == set()
        assert _dbt_processes_on(data) == []

        # The lake: the rerun landed nothing twice, and raw holds what an uninterrupted run lands
        # (the answer key's rows landed per tenant and entity, as tests/test_main_job.py checks).
        # per answer-key entity (what should have landed) and per raw table (the rerun vs the
        # kill: dbt ran after landing, so raw was complete before the kill)
        chaos.compare(
            "kill -9 of a run during dbt, then a rerun",
            {**_landed_per_entity(data, list(key["entities"])), **_raw_counts(data)},
            {**{k: v["rows_landed"] for k, v in key["entities"].items()}, **raw_at_kill},
        )
        assert _raw_counts(data) == raw_at_kill
        assert _landed_per_entity(data, list(key["entities"])) == {
            k: v["rows_landed"] for k, v in key["entities"].items()
        }
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        kill_all(tree.values())
        first.wait()
