"""How the steps of a run execute, chosen only by the environment (``TRACELOOM_EXECUTOR``).

- ``multiprocess`` (default, also when unset): the steps of a run execute side by side in child
  processes of the run worker on its machine (``lake_executor``).
- ``celery``: each step is a Celery task (dagster-celery) on the broker; the Celery workers,
  on any number of machines, execute them (``make worker``, ``deploy/celery/``). Adding
  workers adds throughput. Workers on other machines need the PostgreSQL lake catalog
  (``TRACELOOM_LAKE_CATALOG=postgres``) and the production instance (``deploy/dagster.yaml``,
  run storage in PostgreSQL): every worker reaches the same catalog, run storage and data path.

Celery settings (the run worker reads them; the workers read the same variables through
``deploy/celery/dagster_celery_config.py``):

- ``TRACELOOM_CELERY_BROKER``: broker URL, default ``pyamqp://guest@127.0.0.1:5672//``
  (RabbitMQ on this machine). When set, the executor's config refers to the variable by name,
  so the URL (and any password in it) is never part of a definition, a run or a log.
- ``TRACELOOM_CELERY_BACKEND``: result backend URL, default ``rpc://`` (results travel back
  over the broker to the run worker that submitted the step; nothing else is needed).
- ``TRACELOOM_CELERY_QUEUE``: the queue steps are sent to and workers consume, default
  ``dagster``.
"""

from __future__ import annotations

import os

import dagster as dg

from traceloom_pipelines.run_hygiene import steps_die_with_their_run

EXECUTOR_ENV = "TRACELOOM_EXECUTOR"
BROKER_ENV = "TRACELOOM_CELERY_BROKER"
BACKEND_ENV = "TRACELOOM_CELERY_BACKEND"
QUEUE_ENV = "TRACELOOM_CELERY_QUEUE"
DEFAULT_BROKER = "pyamqp://guest@127.0.0.1:5672//"
DEFAULT_BACKEND = "rpc://"
DEFAULT_QUEUE = "dagster"
EXECUTORS = ("multiprocess", "celery")
RESULT_QUEUE_EXPIRES_S = 3600

# The forkserver preloads the definitions, so it imports this module: from here on every step
# it forks dies with it, i.e. with the run's process (run_hygiene.py); a step's dbt dies with the
# step (dbt.dbt_executable()). No orphan keeps writing the lake. Elsewhere a no-op.
steps_die_with_their_run()

# Steps of a run execute side by side in child processes (the lake takes many writers). A
# forkserver with these modules preloaded starts each step without re-importing Dagster, dbt's
# manifest and the sources, or rebuilding the asset graph (step_preload.py).
# `TRACELOOM_MAX_CONCURRENT_STEPS` caps them (default: CPU count).
MULTIPROCESS = {
    "max_concurrent": int(os.environ.get("TRACELOOM_MAX_CONCURRENT_STEPS", "0")),
    "start_method": {"forkserver": {"preload_modules": ["traceloom_pipelines.step_preload"]}},
}
# A small run (a landing of one cadence, a delta through a few models) executes its steps one
# after another in the run's own process instead: no forkserver to start and preload (~8 CPU-s
# at scale 1, more than the steps of a one-minute delta cost) and no process per step.
IN_PROCESS_RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}

# Dagster's multi_or_in_process_executor (the same two executors, chosen per run by the run
# config's `execution`), defaulting to the multiprocess one above instead of Dagster's spawn.
lake_executor = dg.ExecutorDefinition(
    name="lake_multiprocess",
    config_schema=dg.Field(
        dg.multi_or_in_process_executor.config_schema.config_type,
        default_value={"multiprocess": MULTIPROCESS},
    ),
    executor_creation_fn=dg.multi_or_in_process_executor.executor_creation_fn,
    requirements=lambda config: (
        dg.multiple_process_executor_requirements() if "multiprocess" in config else []
    ),
    description="The steps of a run side by side in forkserver child processes, or (run config "
    "`execution: {config: {in_process: {}}}`) one after another in the run's process.",
)


def _env_or_default(name: str, default: str) -> str | dict[str, str]:
    """A StringSource: ``{"env": name}`` when the variable is set (its value is read by the
    process that runs the executor and stored nowhere), else the credential-free default."""
    return {"env": name} if os.environ.get(name) else default


def celery_broker_url() -> str:
    """The broker URL: ``$TRACELOOM_CELERY_BROKER``, default ``pyamqp://guest@127.0.0.1:5672//``.

    It may hold a password: pass it to Celery, never log it or store it in a definition.
    """
    return os.environ.get(BROKER_ENV, "").strip() or DEFAULT_BROKER


def celery_backend_url() -> str:
    """The result backend URL: ``$TRACELOOM_CELERY_BACKEND``, default ``rpc://``."""
    return os.environ.get(BACKEND_ENV, "").strip() or DEFAULT_BACKEND


def celery_queue() -> str:
    """The Celery queue of the steps: ``$TRACELOOM_CELERY_QUEUE``, default ``dagster``."""
    return os.environ.get(QUEUE_ENV, "").strip() or DEFAULT_QUEUE


def celery_lake_executor() -> dg.ExecutorDefinition:
    """dagster-celery's executor on the broker, backend and queue the environment names
    (``TRACELOOM_CELERY_BROKER``/``_BACKEND``/``_QUEUE``; see the module docstring).

    Steps keep the instance's pools (``lake_writers``) and the run's retry policy; the run
    worker submits each step when its inputs are ready and polls the result backend (1 s).
    """
    from dagster_celery import celery_executor

    return celery_executor.configured(
        {
            "broker": _env_or_default(BROKER_ENV, DEFAULT_BROKER),
            "backend": _env_or_default(BACKEND_ENV, DEFAULT_BACKEND),
            "config_source": {
                # dagster-celery sends a step to its `dagster-celery/queue` tag, else to this.
                "task_default_queue": celery_queue(),
                # rpc:// keeps one reply queue per run worker, which polls it every second while
                # steps are out (never idle mid-run); once the run is over RabbitMQ drops it after
                # this many idle seconds instead of Celery's default day.
                "result_expires": RESULT_QUEUE_EXPIRES_S,
            },
        },
        name="lake_celery",
    )


def select_executor() -> dg.ExecutorDefinition:
    """The executor ``TRACELOOM_EXECUTOR`` names: ``multiprocess`` (default) or ``celery``.

    Raises:
        ValueError: on any other value.
    """
    choice = os.environ.get(EXECUTOR_ENV, "").strip().lower() or "multiprocess"
    if choice == "multiprocess":
        return lake_executor
    if choice == "celery":
        return celery_lake_executor()
    raise ValueError(f"{EXECUTOR_ENV} must be one of {', '.join(EXECUTORS)}, not {choice!r}")


executor = select_executor()


def in_process_run_config() -> dict:
    """Run config executing a run's steps in its own process (:data:`IN_PROCESS_RUN_CONFIG`)
    when the definitions use ``lake_executor``; ``{}`` under another executor (Celery), whose
    config has no such choice."""
    return IN_PROCESS_RUN_CONFIG if executor is lake_executor else {}
