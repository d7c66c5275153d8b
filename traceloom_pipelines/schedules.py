"""Schedules: one per cadence in :mod:`traceloom_pipelines.cadence` and the nightly
reconciliation at 23:00, in the deployment's time zone. A tick is skipped while a run of the same
job is still queued or in progress, so a slow run never piles up behind itself. Each run covers
the daily partitions of today and yesterday (UTC) of the marts downstream."""

import dagster as dg

from traceloom_pipelines.cadence import CADENCES, Cadence, schedule_timezone
from traceloom_pipelines.jobs import cadence_jobs, nightly_reconciliation_job
from traceloom_pipelines.partitions import recent_window_tags

_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _schedule_skipping_active_runs(
    name: str, cron: str, job, description: str
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=name,
        cron_schedule=cron,
        job=job,
        execution_timezone=schedule_timezone(),
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        active = context.instance.get_runs_count(dg.RunsFilter(job_name=job.name, statuses=_ACTIVE))
        if active:
            return dg.SkipReason(f"{active} run(s) of {job.name} still queued or in progress")
        # The daily marts downstream are partitioned: refresh today's and yesterday's UTC days.
        return dg.RunRequest(
            tags={
                "traceloom/schedule": name,
                **recent_window_tags(context.scheduled_execution_time),
            }
        )

    return _schedule


def build_cadence_schedule(cadence: Cadence) -> dg.ScheduleDefinition:
    """The schedule refreshing ``cadence.entities`` on ``cadence.cron``."""
    return _schedule_skipping_active_runs(
        cadence.name,
        cadence.cron,
        cadence_jobs[cadence.name],
        f"{', '.join(cadence.entities)} — {cadence.seed_ref}",
    )


nightly_reconciliation_schedule = _schedule_skipping_active_runs(
    "nightly_reconciliation_2300",
    "0 23 * * *",
    nightly_reconciliation_job,
    "ERP vs MES work orders, WMS vs MES consumption, HR vs MES labour hours; reports per tenant "
    "and day (003 §3.4: daily at 11:00 PM)",
)

schedules = [*(build_cadence_schedule(c) for c in CADENCES), nightly_reconciliation_schedule]
