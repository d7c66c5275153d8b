"""Suite-wide settings.

The test worlds hold 30 days of events before today (``generate_world``'s default ``as_of``), so
runs of the main job cover the last 31 UTC days rather than the production default of 45: every
day that has data is built, and the daily microbatch marts run 14 fewer empty day batches per
materialization (traceloom_pipelines/partitions.py).
"""

import os

os.environ.setdefault("TRACELOOM_RUN_DAYS", "31")


# Test modules that share the production deployment of tests/deploy/conftest.py (webserver,
# daemon, PostgreSQL instance, one main job run): one unit of distribution, so one worker builds
# it once instead of each worker its own.
SHARED_DEPLOYMENT_MODULES = {
    "tests/deploy/test_production_instance.py",
    "tests/deploy/test_run_hygiene.py",
    "tests/deploy/test_ui_backfill.py",
}


def pytest_xdist_make_scheduler(config, log):
    """``make test``'s distribution (``pytest -n N --dist loadfile``): one test module per unit,
    so a module's world is built once, except ``SHARED_DEPLOYMENT_MODULES``, one unit together."""
    from xdist.scheduler import LoadFileScheduling

    class ModuleScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return "production-deployment" if module in SHARED_DEPLOYMENT_MODULES else module

    if config.getvalue("dist") != "loadfile":
        return None
    return ModuleScheduling(config, log)
