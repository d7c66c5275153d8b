"""What the multiprocess executor's forkserver loads once per run, so that every step it forks
starts warm (``lake_executor`` in :mod:`traceloom_pipelines.executors` lists this module).

A step process reconstructs its job from the code location and opens the Dagster instance. Left
cold, each of a run's ~40 steps rebuilt the repository's asset graph (~0.4 s CPU) and imported
the instance's storage modules (~0.3 s CPU) and pandera's polars backend itself: about a fifth of
a small run's CPU. Here those happen once, in the forkserver, before it forks anything.

Opening a SQLite instance also checks each database's schema revision (run storage, schedule
storage, the event log index and the run's shard): alembic reads and compiles every one of
Dagster's ~90 migration scripts for each check, four times per step, about a quarter of the CPU
of a step that finds nothing new to land. The scripts cannot change while a process runs, so
:func:`reuse_alembic_scripts` keeps one parsed script directory per location, parsed here.

Only imports and pure-Python definition objects are built here: no instance, database or lake
connection is opened (a connection must never be shared across ``fork``).
"""

from __future__ import annotations

import importlib

from traceloom_pipelines.definitions import defs, main_job_def

# Modules a step imports on first use otherwise: Dagster when it opens the instance (its
# storage, SQLite locally or PostgreSQL in production, ours included; the secrets loader with
# dotenv; the compute log manager; the state storage with universal-pathlib and fsspec, which
# `upath` alone imports lazily) and builds the run config, pandera on first validation of a
# polars frame, DuckDB's Arrow scans. Measured on the tiny test world: ~5 CPU-s of a full main
# job's 53 steps (a tenth of a second each) before these were preloaded.
LAZY_MODULES = (
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.event_log",
    "dagster._core.storage.runs",
    "dagster._core.storage.schedules",
    "dagster._core.storage.local_compute_log_manager",
    "dagster._core.instance.factory",
    "dagster._core.secrets.env_file",
    "dagster._core.system_config.composite_descent",
    "dagster._utils.test",
    "dagster_postgres",
    "traceloom_pipelines.instance_storage",
    "pandera.polars",
    "upath",
    "upath.core",
    "upath.registry",
    "upath.implementations.local",
    "fsspec",
    "dotenv",
    "pyarrow.dataset",
    "watchdog.observers.polling",
)


def reuse_alembic_scripts() -> None:
    """Make ``alembic.script.ScriptDirectory.from_config`` return one script directory per
    (class, ``script_location``) for the life of the process, its revision map parsed once.

    Alembic only reads the directory; nothing in this process writes migration scripts. Calling
    this twice is harmless (the second call finds the cache installed).
    """
    from alembic.script import ScriptDirectory

    if getattr(ScriptDirectory.from_config, "_traceloom_cached", False):
        return
    load = ScriptDirectory.from_config.__func__
    parsed: dict[tuple[type, str | None], ScriptDirectory] = {}

    def from_config(cls, config, *args, **kwargs):
        if args or kwargs:  # another signature than Dagster's: not cached
            return load(cls, config, *args, **kwargs)
        key = (cls, config.get_main_option("script_location"))
        if key not in parsed:
            parsed[key] = load(cls, config)
        return parsed[key]

    from_config._traceloom_cached = True
    ScriptDirectory.from_config = classmethod(from_config)


def warm() -> None:
    """Import ``LAZY_MODULES`` (those not installed are skipped), parse Dagster's migration
    scripts once (:func:`reuse_alembic_scripts`), build the repository of ``defs`` and resolve
    the main job, so forked steps inherit them."""
    for name in LAZY_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    from pandera.backends.polars.register import register_polars_backends

    register_polars_backends()
    reuse_alembic_scripts()
    from alembic.script import ScriptDirectory
    from dagster._core.storage import sql

    ScriptDirectory.from_config(sql.get_alembic_config(sql.__file__)).as_revision_number("head")
    defs.get_repository_def()
    main_job_def()


warm()
