"""Sensors: a drop-folder sensor per source system, and the run-failure recorder.

Drop-folder sensor: every 30 s it lists the system's drop folders; a file is *new* when its
(modification time, size) is not in the cursor. A file modified in the last
``SETTLE_SECONDS`` may still be being written and is left for a later tick (uploaders that
write ``*.part``/``*.tmp`` and rename are never listed at all). One run is requested per set of
new files, with a run key derived from them, so the same files never launch twice; the run
lands what the run plan finds due in the system's landing job
(:mod:`traceloom_pipelines.run_plan`), and a tick whose files have all landed already (the same
bytes, e.g. through the main job) is skipped. What the landed data reaches downstream is the
``traceloom_automation`` sensor's (:mod:`traceloom_pipelines.automation`).

Run-failure recorder: writes one JSON record per failed run into
``landing/platform/dagster/run_failures/`` (:mod:`traceloom_pipelines.sources.dagster.records`),
which the ``raw/dagster/run_failures`` asset lands like any source.
"""

import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from traceloom_pipelines.jobs import system_jobs
from traceloom_pipelines.landing.readers import list_drop_files
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.run_plan import plan_run
from traceloom_pipelines.sources.catalog import SYSTEMS, all_entities
from traceloom_pipelines.sources.dagster.records import launched_by, write_run_failure

SETTLE_SECONDS = 10


def new_drop_files(
    landing_root: Path, system: str, cursor: dict[str, list[int]], now: float
) -> tuple[list[str], dict[str, list[int]]]:
    """Files of ``system`` that are new or changed since ``cursor``, and the next cursor.

    ``cursor`` maps a file's path relative to the landing root to ``[mtime_ns, size]``. Files
    modified less than :data:`SETTLE_SECONDS` before ``now`` (epoch seconds) are neither new
    nor remembered, so a later tick sees them once they have settled.
    """
    new: list[str] = []
    seen: dict[str, list[int]] = {}
    for entity in (e for e in all_entities() if e.system == system):
        for drop in list_drop_files(landing_root, entity):
            stat = drop.path.stat()
            if now - stat.st_mtime < SETTLE_SECONDS:
                continue
            signature = [stat.st_mtime_ns, stat.st_size]
            seen[drop.relative_path] = signature
            if cursor.get(drop.relative_path) != signature:
                new.append(drop.relative_path)
    return new, seen


def build_drop_folder_sensor(system: str) -> dg.SensorDefinition:
    """The sensor launching ``ingest_<system>_job`` for new files in the system's drop folders."""
    job = system_jobs[system]

    @dg.sensor(
        name=f"{system}_drop_sensor",
        job=job,
        minimum_interval_seconds=30,
        description=f"Launches {job.name} when new {system} files land in the drop folders.",
    )
    def _sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        cursor = json.loads(context.cursor) if context.cursor else {}
        new, seen = new_drop_files(warehouse.landing_root, system, cursor, time.time())
        context.update_cursor(json.dumps(seen, sort_keys=True))
        if not new:
            return dg.SkipReason(f"no new {system} files")
        # Imported here: the definitions import this module.
        from traceloom_pipelines.definitions import defs

        # Files touched but already landed (same bytes), e.g. by the main job: nothing is due.
        plan = plan_run(context.instance, defs, job.selection, Path(warehouse.data_dir))
        if not plan.selection:
            return dg.SkipReason(f"{len(new)} changed {system} file(s): {plan.describe()}")
        digest = hashlib.sha256(
            json.dumps({path: seen[path] for path in sorted(new)}).encode()
        ).hexdigest()[:16]
        return dg.RunRequest(
            run_key=f"{system}-{digest}",
            asset_selection=sorted(plan.selection),
            tags={"traceloom/new_files": str(len(new)), "traceloom/first_file": sorted(new)[0]},
        )

    return _sensor


@dg.run_failure_sensor(
    name="run_failure_recorder",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed run as a platform source record (integration health).",
)
def run_failure_recorder(context: dg.RunFailureSensorContext, warehouse: WarehouseResource):
    run = context.dagster_run
    failed_steps = sorted(
        {e.step_key for e in context.get_step_failure_events() if e.step_key is not None}
    )
    message = context.failure_event.message or ""
    write_run_failure(
        warehouse.landing_root,
        {
            "run_id": run.run_id,
            "job_name": run.job_name,
            "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "failed_steps": ",".join(failed_steps),
            "error_message": message,
            "launched_by": launched_by(run.tags),
        },
    )


sensors = [build_drop_folder_sensor(system) for system in SYSTEMS]
