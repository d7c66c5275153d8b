"""Suite-wide settings.

The test worlds hold 30 days of events before today (``generate_world``'s default ``as_of``), so
runs of the main job cover the last 31 UTC days rather than the production default of 45: every
day that has data is built, and the daily marts read and replace 14 fewer empty days per
materialization (traceloom_pipelines/partitions.py).
"""

import os
import re
from pathlib import Path

os.environ.setdefault("TRACELOOM_RUN_DAYS", "31")

# The chaos table of the fault scenarios (marker `chaos`, fixture `chaos`); the demo world after
# one main job that the end-to-end modules copy (fixture `main_job_world`).
pytest_plugins = ["tests.chaos", "tests.main_job"]


def _modules_using(fixture: str) -> set[str]:
    """The test modules (paths from the repository root) whose source names ``fixture``: the
    modules that share that session-scoped world, found rather than listed (a module added
    later joins its unit by itself)."""
    tests = Path(__file__).resolve().parent
    return {
        str(path.relative_to(tests.parent))
        for path in tests.rglob("test_*.py")
        if re.search(rf"\b{fixture}\b", path.read_text(encoding="utf-8"))
    }


# Test modules that share a session-scoped world: each group is one unit of distribution, so one
# worker builds the world once instead of each worker its own.
SHARED_WORLD_MODULES = {
    # the production deployment of tests/deploy/conftest.py (webserver, daemon, PostgreSQL
    # instance, one main job run)
    "production-deployment": {
        "tests/deploy/test_production_instance.py",
        "tests/deploy/test_run_hygiene.py",
        "tests/deploy/test_ui_backfill.py",
    },
    # the demo world after one main job of tests/main_job.py (each module works on a copy)
    "main-job-world": _modules_using("main_job_world"),
    # the landed and dbt-built logistics world of tests/sources/conftest.py
    "logistics-world": _modules_using("logistics_world"),
}
_UNIT_OF_MODULE = {m: unit for unit, modules in SHARED_WORLD_MODULES.items() for m in modules}


# The units that run whole main jobs and take minutes each (measured in full `make test` runs on
# a 2-CPU machine), longest first. CPU is the suite's limit there, and runs of the main job slow
# each other down more than in proportion: with xdist's own order (units with the most tests
# first) these few-test units went out last, all at once, beside nothing else. So they start
# first, at most MAX_HEAVY_AT_ONCE at a time and never two on one worker, while the other
# workers take the light units (tests/conftest.py ModuleScheduling).
HEAVY_UNITS = (
    "production-deployment",
    "tests/lake/test_concurrency.py",
    "main-job-world",
    "tests/deploy/test_celery_workers.py",
    "tests/test_run_hygiene.py",
)
MAX_HEAVY_AT_ONCE = 2


def pytest_xdist_make_scheduler(config, log):
    """``make test``'s distribution (``pytest -n N --dist loadfile``): one test module per unit,
    so a module's world is built once, except ``SHARED_WORLD_MODULES``, one unit per group; the
    ``HEAVY_UNITS`` are spread as their comment says."""
    from xdist.scheduler import LoadFileScheduling

    class ModuleScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return _UNIT_OF_MODULE.get(module, module)

        def _heavy_running(self) -> dict:
            """Heavy unit -> the worker it is assigned to, for those not finished."""
            return {
                scope: node
                for node, work in self.assigned_work.items()
                for scope, done in work.items()
                if scope in HEAVY_UNITS and not all(done.values())
            }

        def _assign_work_unit(self, node) -> None:
            running = self._heavy_running()
            heavy = [u for u in HEAVY_UNITS if u in self.workqueue]
            light = [u for u in self.workqueue if u not in HEAVY_UNITS]
            if node in running.values():
                # Queued behind a heavy unit on its worker (xdist runs a test only once the
                # next is known): the smallest light unit waits there, not a heavy one.
                pick = min(light, key=lambda u: len(self.workqueue[u])) if light else heavy[0]
            elif heavy and (len(running) < MAX_HEAVY_AT_ONCE or not light):
                pick = heavy[0]
            else:
                pick = light[0]
            self.workqueue.move_to_end(pick, last=False)
            super()._assign_work_unit(node)

        def _reschedule(self, node) -> None:
            # A worker running a heavy unit gets its next unit only when the heavy unit's last
            # test is the one left (the next unit then waits as short as it can).
            work = self.assigned_work.get(node, {})
            if (
                self.workqueue
                and not node.shutting_down
                and any(u in HEAVY_UNITS and not all(d.values()) for u, d in work.items())
                and self._pending_of(work) > 1
            ):
                return
            super()._reschedule(node)

    if config.getvalue("dist") != "loadfile":
        return None
    return ModuleScheduling(config, log)


def pytest_terminal_summary(terminalreporter) -> None:
    """The scores tests measured against the answer key (``record_property("score", text)``,
    e.g. identity resolution's precision and recall), printed at the end of the session whether
    the tests passed or not (a property travels from the xdist worker with its report)."""
    scores = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "score"
    ]
    if scores:
        terminalreporter.section("scores against the answer key")
        for line in sorted(scores):
            terminalreporter.write_line(line)
