"""What the multiprocess executor's forkserver loads once per run, so that every step it forks
starts warm (``lake_executor`` in :mod:`traceloom_pipelines.executors` lists this module).

A step process reconstructs its job from the code location and opens the Dagster instance. Left
cold, each of a run's ~40 steps rebuilt the repository's asset graph (~0.4 s CPU) and imported
the instance's storage modules (~0.3 s CPU) and pandera's polars backend itself: about a fifth of
a small run's CPU. Here those happen once, in the forkserver, before it forks anything.

Only imports and pure-Python definition objects are built here: no instance, database or lake
connection is opened (a connection must never be shared across ``fork``).
"""

from __future__ import annotations

import importlib

from traceloom_pipelines.definitions import defs, main_job_def

# Modules Dagster imports on first use of an instance's storage (SQLite locally, PostgreSQL in
# production) and pandera on first validation of a polars frame.
LAZY_MODULES = (
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.event_log",
    "dagster._core.storage.runs",
    "dagster._core.storage.schedules",
    "dagster_postgres",
    "pandera.polars",
    "upath",
)


def warm() -> None:
    """Import ``LAZY_MODULES`` (those not installed are skipped), build the repository of
    ``defs`` and resolve the main job, so forked steps inherit them."""
    for name in LAZY_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    from pandera.backends.polars.register import register_polars_backends

    register_polars_backends()
    defs.get_repository_def()
    main_job_def()


warm()
