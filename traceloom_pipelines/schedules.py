"""Schedules: one per cadence in :mod:`traceloom_pipelines.cadence`, in the deployment's time
zone. A tick is skipped while a run of the same job is still queued or in progress, so a slow
run never piles up behind itself."""

import dagster as dg

from traceloom_pipelines.cadence import CADENCES, Cadence, schedule_timezone
from traceloom_pipelines.jobs import cadence_jobs

_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def build_cadence_schedule(cadence: Cadence) -> dg.ScheduleDefinition:
    """The schedule refreshing ``cadence.entities`` on ``cadence.cron``."""
    job = cadence_jobs[cadence.name]

    @dg.schedule(
        name=cadence.name,
        cron_schedule=cadence.cron,
        job=job,
        execution_timezone=schedule_timezone(),
        description=f"{', '.join(cadence.entities)} — {cadence.seed_ref}",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        active = context.instance.get_runs_count(dg.RunsFilter(job_name=job.name, statuses=_ACTIVE))
        if active:
            return dg.SkipReason(f"{active} run(s) of {job.name} still queued or in progress")
        return dg.RunRequest(tags={"traceloom/cadence": cadence.name})

    return _schedule


schedules = [build_cadence_schedule(cadence) for cadence in CADENCES]
