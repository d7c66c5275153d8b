"""Celery settings of a TraceLoom worker, read from the environment only.

dagster-celery's app (``celery -A dagster_celery.app worker``) imports a module named
``dagster_celery_config`` when one is on the Python path and applies its settings over
``dagster_celery.defaults``; ``deploy/celery/worker.sh`` (``make worker``) puts this folder on
``PYTHONPATH``. The values come from the same variables the run worker reads
(``traceloom_pipelines/executors.py``), so both sides meet on one broker and queue:

- ``TRACELOOM_CELERY_BROKER`` (default ``pyamqp://guest@127.0.0.1:5672//``): may hold a password;
  it stays in this process (Celery masks it in its banner).
- ``TRACELOOM_CELERY_BACKEND`` (default ``rpc://``).
- ``TRACELOOM_CELERY_QUEUE`` (default ``dagster``): ``worker.sh`` consumes it (``--queues``).
"""

from traceloom_pipelines.executors import celery_backend_url, celery_broker_url, celery_queue

broker_url = celery_broker_url()
result_backend = celery_backend_url()
task_default_queue = celery_queue()
# One task (one step) reserved at a time: an idle worker takes the next step, a busy one does
# not hoard it.
worker_prefetch_multiplier = 1
# Imported by the worker's main process before it forks its pool: every child starts with
# Dagster, dbt's manifest and the sources loaded (as the multiprocess executor's forkserver).
imports = ("traceloom_pipelines.definitions",)
