"""Suite-wide settings.

The test worlds hold 30 days of events before today (``generate_world``'s default ``as_of``), so
runs of the main job cover the last 31 UTC days rather than the production default of 45: every
day that has data is built, and the daily marts read and replace 14 fewer empty days per
materialization (traceloom_pipelines/partitions.py).
"""

import os

os.environ.setdefault("TRACELOOM_RUN_DAYS", "31")

# The chaos table of the fault scenarios (marker `chaos`, fixture `chaos`); the demo world after
# one main job that the end-to-end modules copy (fixture `main_job_world`).
pytest_plugins = ["tests.chaos", "tests.main_job"]


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
    "main-job-world": {
        "tests/test_main_job.py",
        "tests/reconciliation/test_reconciliation.py",
    },
    # the landed and dbt-built logistics world of tests/sources/conftest.py
    "logistics-world": {
        "tests/sources/test_certifications.py",
        "tests/sources/test_finance.py",
        "tests/sources/test_logistics.py",
        "tests/sources/test_po_twin.py",
    },
}
_UNIT_OF_MODULE = {m: unit for unit, modules in SHARED_WORLD_MODULES.items() for m in modules}


def pytest_xdist_make_scheduler(config, log):
    """``make test``'s distribution (``pytest -n N --dist loadfile``): one test module per unit,
    so a module's world is built once, except ``SHARED_WORLD_MODULES``, one unit per group."""
    from xdist.scheduler import LoadFileScheduling

    class ModuleScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return _UNIT_OF_MODULE.get(module, module)

    if config.getvalue("dist") != "loadfile":
        return None
    return ModuleScheduling(config, log)


# The slowest units (measured: seconds of a full `make test`, most of them running the main job),
# slowest first. xdist hands out the units with the most tests first (its default
# --loadscope-reorder, a stable sort), so this order only breaks ties between units with as many
# tests; these few-test units go out late, each beside lighter ones. That beat the alternatives
# measured on one 2-CPU machine on 2026-12-07 (the suite is CPU-bound there, and runs of the main
# job slow each other down more than in proportion): this, with 3 workers, 897 s; these units
# first with 4 workers, 1,064 s; 4 workers and at most 2 main-job units at a time, 995 s.
SLOW_FIRST = (
    "production-deployment",
    "tests/deploy/test_celery_workers.py",
    "tests/lake/test_concurrency.py",
    "tests/test_run_hygiene.py",
    "main-job-world",
    "tests/sources/test_ais.py",
    "logistics-world",
    # Superset and Chromium on three dashboards: ~45 s of CPU, but minutes of waiting
    "tests/bi/test_superset.py",
)


def pytest_collection_modifyitems(items) -> None:
    """Put the items of the ``SLOW_FIRST`` units first (stable: same order on every worker)."""
    rank = {unit: i for i, unit in enumerate(SLOW_FIRST)}

    def unit_rank(item) -> int:
        module = item.nodeid.split("::", 1)[0]
        return rank.get(_UNIT_OF_MODULE.get(module, module), len(rank))

    items.sort(key=unit_rank)
