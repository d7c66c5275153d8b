#!/bin/sh
# A TraceLoom Celery worker: dagster-celery's app with the settings in dagster_celery_config.py
# (this folder), consuming the steps of runs launched with TRACELOOM_EXECUTOR=celery.
#
#   deploy/celery/worker.sh [celery worker options, e.g. --concurrency 4]
#
# Environment (see README "Worker machines (Celery) and Kubernetes"): TRACELOOM_CELERY_BROKER,
# _BACKEND, _QUEUE; TRACELOOM_WORKER_NAME (node name, default traceloom-<pid>; "@<host>" is
# appended); and what the steps need, as on the machine of the daemon: DAGSTER_PG_* (the
# instance), TRACELOOM_LAKE_CATALOG=postgres with TRACELOOM_LAKE_PG_*, TRACELOOM_LAKE_DATA_PATH
# (+ TRACELOOM_LAKE_S3_*), TRACELOOM_DATA_DIR. `celery` must be on PATH (the venv's bin).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
name=${TRACELOOM_WORKER_NAME:-traceloom-$$}
exec celery -A dagster_celery.app worker \
  --hostname "$name@%h" \
  --queues "${TRACELOOM_CELERY_QUEUE:-dagster}" \
  --prefetch-multiplier 1 \
  --loglevel INFO \
  "$@"
