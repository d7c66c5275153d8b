"""What the traceloom command shows while it works, on stderr: a rich progress bar when stderr is
a terminal, otherwise one plain line per phase (CI logs stay readable, no control characters).

:class:`PhaseProgress` draws ``progress(label, done, total)`` calls (the demo generator's
``ProgressCallback``, the main job's steps); :class:`StepProgress` folds a run's step events into
steps finished of the plan; :class:`RunWatcher` reads those events from the Dagster instance
while the run executes (a thread polling the event log, so the executor is left as it is).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column

if TYPE_CHECKING:
    from dagster import DagsterInstance


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (progress bars) rather than a file or pipe (plain lines)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


class PhaseProgress:
    """A progress display for ``progress(label, done, total)`` calls, used as a context manager.

    On a terminal a rich bar shows ``title``, the bar, ``done/total``, the elapsed time and the
    latest label. Otherwise a line ``<title>: [done/total] <label>`` is printed each time
    ``done`` changes (calls that only refine the label print nothing), or ``plain`` instead of
    the label when given.

    Args:
        title: what is in progress, e.g. ``demo world``.
        terminal: draw a bar (True) or print lines (False); default: whether stderr is a
            terminal.
        stream: where to write; default ``sys.stderr``.
    """

    def __init__(self, title: str, *, terminal: bool | None = None, stream: TextIO | None = None):
        self.title = title
        self.terminal = stderr_is_terminal() if terminal is None else terminal
        self.stream = stream if stream is not None else sys.stderr
        self._bar: Progress | None = None
        self._task = None
        self._last_done: int | None = None
        self._lock = threading.Lock()  # the run's updates come from the watcher thread

    def __enter__(self) -> PhaseProgress:
        if self.terminal:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[title]}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn(
                    "{task.description}",
                    table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1),
                ),
                console=Console(file=self.stream),
                expand=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("", total=None, title=self.title)
        return self

    def __call__(self, label: str, done: int, total: int, *, plain: str | None = None) -> None:
        """Show that ``done`` of ``total`` units are finished and ``label`` is under way;
        ``plain``: the text of the plain line instead of ``label``."""
        with self._lock:
            if self._bar is not None and self._task is not None:
                self._bar.update(self._task, description=label, completed=done, total=total)
            elif done != self._last_done:
                print(
                    f"{self.title}: [{done}/{total}] {plain or label}", file=self.stream, flush=True
                )
            self._last_done = done

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@contextmanager
def output_to_file(path: Path) -> Iterator[TextIO]:
    """Send file descriptors 1 and 2 to ``path`` (appended, created with its folder) while the
    block runs: this process's output and that of every child process started meanwhile (the
    run's step processes and their dbt write there, not over the progress bar). Yields a stream
    on the original stderr, for the bar. Both descriptors are restored on leaving, also after
    an exception.

    Raises:
        OSError: ``path`` cannot be opened for appending.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    log = open(path, "ab")  # closed below, once duplicated onto 1 and 2
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        log.close()
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        terminal.close()
        if not log.closed:
            log.close()


# Dagster event types (DagsterEventType values) that move a step between waiting, running and
# finished. A step up for retry runs again later, so it is neither running nor finished.
STEP_RUNNING = frozenset({"STEP_START", "STEP_RESTARTED"})
STEP_FINISHED = {"STEP_SUCCESS": "succeeded", "STEP_FAILURE": "failed", "STEP_SKIPPED": "skipped"}
STEP_EVENTS = STEP_RUNNING | set(STEP_FINISHED) | {"STEP_UP_FOR_RETRY"}


@dataclass
class StepProgress:
    """The steps of one run as its step events arrive: how many of ``total`` are finished and
    which are running (in the order they started).

    Attributes:
        total: the steps the run's execution plan executes.
        running: step keys running now, oldest first.
        finished: step key → ``succeeded``, ``failed`` or ``skipped``.
        last: the most recent change, e.g. ``raw__erp__purchase_orders succeeded``.
    """

    total: int
    running: dict[str, None] = field(default_factory=dict)
    finished: dict[str, str] = field(default_factory=dict)
    last: str = ""

    @property
    def done(self) -> int:
        """Steps finished (succeeded, failed or skipped)."""
        return len(self.finished)

    @property
    def failed(self) -> int:
        """Steps that failed."""
        return sum(1 for outcome in self.finished.values() if outcome == "failed")

    def apply(self, event_type: str, step_key: str | None) -> bool:
        """Fold one event in: ``event_type`` is a ``DagsterEventType`` value (``STEP_START``,
        ``STEP_SUCCESS`` …); events of other types or without a step key are ignored.

        Returns:
            Whether the event changed the progress.
        """
        if step_key is None or event_type not in STEP_EVENTS:
            return False
        if event_type in STEP_RUNNING:
            if step_key in self.running:
                return False
            self.running[step_key] = None
            self.last = f"{step_key} started"
            return True
        self.running.pop(step_key, None)
        if event_type == "STEP_UP_FOR_RETRY":
            self.last = f"{step_key} up for retry"
            return True
        self.finished[step_key] = STEP_FINISHED[event_type]
        self.last = f"{step_key} {STEP_FINISHED[event_type]}"
        return True

    def label(self, shown: int = 2) -> str:
        """The running steps (at most ``shown`` named, then ``+N``) and the failures so far."""
        names = list(self.running)
        text = ", ".join(names[:shown]) + (f" +{len(names) - shown}" if len(names) > shown else "")
        if not names:
            text = "waiting for steps" if self.done < self.total else "finishing"
        return text + (f" ({self.failed} failed)" if self.failed else "")


class RunWatcher(threading.Thread):
    """Follows the steps of the run this process is about to execute, in a daemon thread.

    The run is the newest run on ``instance`` tagged with every one of ``tags`` and created
    after ``created_after`` (``traceloom run`` tags its run with its host and process id). Its
    step events are read from the instance's event log every ``interval`` seconds and folded
    into a :class:`StepProgress`; ``on_update`` is called after each event that changed it (in
    this thread). A failing read is retried at the next poll: watching never fails the run.
    Use as a context manager: leaving it reads the last events and stops the thread.

    Args:
        instance: the Dagster instance the run executes on.
        tags: run tags that identify the run.
        created_after: the run was created after this moment (timezone-aware).
        on_update: called with the progress after each change.
        interval: seconds between polls.
    """

    def __init__(
        self,
        instance: DagsterInstance,
        tags: dict[str, str],
        created_after: datetime,
        on_update: Callable[[StepProgress], None],
        interval: float = 0.5,
    ):
        super().__init__(name="traceloom-run-watcher", daemon=True)
        self.instance, self.tags, self.created_after = instance, tags, created_after
        self.on_update, self.interval = on_update, interval
        self.progress: StepProgress | None = None
        self._run_id: str | None = None
        self._cursor: str | None = None
        self._halt = threading.Event()

    def __enter__(self) -> RunWatcher:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._halt.set()
        self.join(timeout=10)

    def run(self) -> None:
        while True:
            stopping = self._halt.is_set()  # read before polling: the last poll follows it
            try:
                self.poll()
            except Exception:  # a read failing (busy SQLite) is retried next time
                pass
            if stopping:
                return
            self._halt.wait(self.interval)

    def poll(self) -> None:
        """Find the run if not yet found, then fold in its step events since the last poll.

        Raises:
            Whatever the instance raises when its storage cannot be read.
        """
        import dagster as dg
        from dagster._core.events import DagsterEventType

        if self._run_id is None:
            runs = self.instance.get_runs(
                filters=dg.RunsFilter(tags=self.tags, created_after=self.created_after), limit=1
            )
            if not runs:
                return
            run = runs[0]
            plan = self.instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
            self.progress = StepProgress(total=len(plan.step_keys_to_execute))
            self._run_id = run.run_id
            self.on_update(self.progress)
        assert self.progress is not None
        kinds = {DagsterEventType(value) for value in STEP_EVENTS}
        while True:
            page = self.instance.get_records_for_run(
                self._run_id, cursor=self._cursor, of_type=kinds, limit=1000
            )
            for record in page.records:
                event = record.event_log_entry.dagster_event
                if event is not None and self.progress.apply(
                    event.event_type_value, event.step_key
                ):
                    self.on_update(self.progress)
            self._cursor = page.cursor
            if not page.has_more:
                return
