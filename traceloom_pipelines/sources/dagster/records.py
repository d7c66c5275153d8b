"""Records of the platform source ``dagster/run_failures``, written where its ingestion asset
lands them: ``landing/platform/dagster/run_failures/<name>.json``, one JSON object per file,
written atomically (temp file, then rename), so the landing never reads half a record.

Two writers (003 §8.3, alerting; §7.1, escalation):

- the ``run_failure_recorder`` sensor (:mod:`traceloom_pipelines.sensors`): one record per failed
  run, file ``<run_id>.json``;
- an ingestion step whose source refused a tenant's credentials
  ``AUTH_ESCALATION_FAILURES`` times in a row (:mod:`traceloom_pipelines.landing.assets`): one
  record per run and entity, file ``<run_id>.auth.<system>__<entity>.json``. The run itself does
  not fail (the other tenants' data landed and the marts build on it); the record is the alert
  integration health reports (``fct_integration_health.run_failures_24h`` of the entity), next to
  the failing ``source_auth_not_escalated`` check.

Fields (the contract in :mod:`traceloom_pipelines.sources.dagster.contract`): ``run_id``,
``job_name``, ``failed_at`` (ISO 8601, UTC, seconds), ``failed_steps`` (comma-separated step
keys), ``error_message`` (at most :data:`ERROR_MESSAGE_CHARS` characters), ``launched_by``
(schedule, sensor or ``manual``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from traceloom_pipelines.sources.dagster.contract import PLATFORM_TENANT, run_failures

ERROR_MESSAGE_CHARS = 2000


def launched_by(tags: Mapping[str, str]) -> str:
    """What launched a run, from its tags: its schedule's or sensor's name, else ``manual``."""
    return tags.get("dagster/schedule_name") or tags.get("dagster/sensor_name") or "manual"


def write_run_failure(landing_root: Path, record: dict, name: str | None = None) -> Path:
    """Write ``record`` (the fields above) as ``<name or run_id>.json`` where
    ``raw/dagster/run_failures`` lands it; atomic. ``error_message`` is cut to
    :data:`ERROR_MESSAGE_CHARS`. Rewriting the same name replaces the record (the landing keeps
    the newest). Returns the file's path.

    Raises:
        OSError: the folder or file cannot be written.
    """
    folder = landing_root / PLATFORM_TENANT / run_failures.system / run_failures.entity
    folder.mkdir(parents=True, exist_ok=True)
    record = {**record, "error_message": (record.get("error_message") or "")[:ERROR_MESSAGE_CHARS]}
    stem = name or record["run_id"]
    target = folder / f"{stem}.json"
    temp = folder / f".{stem}.json.tmp"
    temp.write_text(json.dumps(record, sort_keys=True))
    os.replace(temp, target)
    return target


def write_auth_escalation(
    landing_root: Path,
    *,
    run_id: str,
    job_name: str,
    tags: Mapping[str, str],
    table: str,
    message: str,
) -> Path:
    """The escalation record of ingestion step ``land_<table>`` in run ``run_id`` (003 §7.1:
    after ``AUTH_ESCALATION_FAILURES`` authentication failures in a row the integration admin is
    alerted); ``message`` names the source, the entity and the tenants. One file per run and
    table: a retried step rewrites it.

    Raises:
        OSError: the record cannot be written.
    """
    return write_run_failure(
        landing_root,
        {
            "run_id": run_id,
            "job_name": job_name,
            "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "failed_steps": f"land_{table}",
            "error_message": message,
            "launched_by": launched_by(tags),
        },
        name=f"{run_id}.auth.{table}",
    )
