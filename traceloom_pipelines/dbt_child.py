"""``traceloom-dbt``: dbt that dies with the process that started it.

dagster-dbt starts ``dbt build`` with ``subprocess.Popen``; when the step process is killed
(``kill -9``, the OOM killer, its run worker dying) a plain dbt child would go on writing the lake
without the lake lock the step held. ``traceloom_pipelines.dbt.dbt_executable()`` therefore names
this small supervisor instead, which dagster-dbt runs like dbt (same arguments, same stdout):

1. It asks the kernel (``prctl(PR_SET_PDEATHSIG)``, Linux) to signal it when its parent dies, and
   also checks its parent once a second (other systems, and the moment before ``prctl``).
2. It forks the real dbt (``real_dbt()``) into a process group of its own (dbt and the processes
   dbt starts), with ``PR_SET_PDEATHSIG=SIGKILL`` too, so dbt also dies when this supervisor is
   killed outright.
3. When its parent process is gone it kills dbt's whole group with SIGKILL at once. SIGINT
   (dagster-dbt's interrupt) and SIGTERM/SIGHUP are forwarded to the group; when dbt exits,
   whatever dbt left in the group gets ``LEFTOVER_GRACE_S`` seconds, then SIGKILL (the
   supervisor is their subreaper, so it sees and reaps them).

The kernel signals a child when the *thread* that forked it exits, not only the process. The
signal is therefore acted on only when ``os.getppid()`` changed (the parent process is gone);
after a mere thread exit the kernel re-parents the child to another thread of the same process,
and signals again when that one exits.

This module imports nothing but the standard library: it starts for every dbt invocation.
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import sys
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PR_SET_CHILD_SUBREAPER = 36
PARENT_PID_ENV = "TRACELOOM_DBT_PARENT_PID"
REAL_DBT_ENV = "TRACELOOM_DBT_EXECUTABLE"
PARENT_CHECK_S = 1.0
LEFTOVER_GRACE_S = 2.0
PARENT_DEATH_SIGNAL = signal.SIGUSR1
ORPHANED_EXIT = 128 + signal.SIGKILL


def real_dbt() -> str:
    """The dbt this supervisor runs: ``$TRACELOOM_DBT_EXECUTABLE`` if set, else the ``dbt``
    installed beside this interpreter (the project venv), else ``dbt`` on PATH."""
    override = os.environ.get(REAL_DBT_ENV)
    if override:
        return override
    beside = os.path.join(os.path.dirname(sys.executable), "dbt")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("dbt") or "dbt"


def _prctl(option: int, value: int) -> bool:
    """``prctl(option, value)``; False where there is no ``prctl`` (not Linux).

    Raises:
        OSError: if ``prctl`` exists but refuses.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    if prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}, {value}): {os.strerror(errno)}")
    return True


def set_parent_death_signal(sig: int) -> bool:
    """Have the kernel send ``sig`` to this process when the thread that forked it exits
    (``prctl(PR_SET_PDEATHSIG)``; it does not survive a fork, it survives exec). True if set,
    False where ``prctl`` does not exist (not Linux).

    Raises:
        OSError: if ``prctl`` exists but refuses.
    """
    return _prctl(PR_SET_PDEATHSIG, int(sig))


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned_already(parent: int) -> bool:
    """Whether the process that started us died before ``prctl`` took effect: we were re-parented
    to init (or a subreaper). ``$TRACELOOM_DBT_PARENT_PID`` (set by the step just before it starts
    dbt) names the starter; without it there is no telling (a parent that is init may be the
    real one, in a container), and a stale value inherited from an ancestor that is still alive
    is ignored."""
    expected = os.environ.pop(PARENT_PID_ENV, "")
    if expected.isdigit() and int(expected) != parent:
        return not pid_alive(int(expected))
    return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _reap() -> bool:
    """Reap every child that has exited; False once there is no child left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_dbt(argv: list[str]) -> int:
    """Fork the real dbt as the leader of a new process group; its pid (= the group id)."""
    supervisor = os.getpid()
    executable = real_dbt()
    child = os.fork()
    if child == 0:  # the child: never returns
        try:
            os.setpgid(0, 0)
            set_parent_death_signal(signal.SIGKILL)
            if os.getppid() != supervisor:  # the supervisor died before prctl took effect
                os._exit(ORPHANED_EXIT)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, PARENT_DEATH_SIGNAL):
                signal.signal(sig, signal.SIG_DFL)
            os.execvp(executable, [executable, *argv])
        except BaseException as error:  # report anything, never return
            try:
                os.write(2, f"traceloom-dbt: cannot run {executable}: {error}\n".encode())
            finally:
                os._exit(127)
    try:
        os.setpgid(child, child)  # also here, so the group exists before we may signal it
    except (PermissionError, ProcessLookupError):
        pass  # the child already exec'd (having set its group itself) or already exited
    return child


def _wait(child: int, parent: int) -> int:
    """Wait for dbt; its wait status. Checks the parent every ``PARENT_CHECK_S`` seconds."""
    try:
        pidfd = os.pidfd_open(child)
    except (AttributeError, OSError):  # not Linux >= 5.3: poll
        pidfd = None
    try:
        while True:
            if pidfd is not None:
                select.select([pidfd], [], [], PARENT_CHECK_S)
            else:
                time.sleep(0.1)
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                return status
            if os.getppid() != parent:
                _signal_group(child, signal.SIGKILL)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def main(argv: list[str] | None = None) -> int:
    """Run the real dbt with ``argv`` (default: this process's arguments) as described in the
    module docstring; dbt's exit code (128 + N when a signal N ended it)."""
    args = sys.argv[1:] if argv is None else argv
    parent = os.getppid()
    state: dict[str, int] = {}

    def forward(signum, _frame) -> None:
        if "group" in state:
            _signal_group(state["group"], signum)
        else:
            raise SystemExit(128 + signum)

    def parent_died(_signum, _frame) -> None:
        if os.getppid() == parent:
            return  # only the forking thread of the parent exited; the process lives
        if "group" in state:
            _signal_group(state["group"], signal.SIGKILL)
        os._exit(ORPHANED_EXIT)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    signal.signal(PARENT_DEATH_SIGNAL, parent_died)
    set_parent_death_signal(PARENT_DEATH_SIGNAL)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)  # what dbt leaves behind becomes our child, to reap
    if _orphaned_already(parent):
        print("traceloom-dbt: the process that started dbt is gone; not starting", file=sys.stderr)
        return ORPHANED_EXIT

    group = _start_dbt(args)
    state["group"] = group
    if os.getppid() != parent:  # the parent died while dbt was starting
        _signal_group(group, signal.SIGKILL)
    status = _wait(group, parent)

    # dbt is gone; the processes it started (still in its group, now our children: we are their
    # subreaper) get a moment to finish, then SIGKILL.
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while _reap() and _group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(group, signal.SIGKILL)
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while _reap() and _group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.02)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
