"""Schedules: one per cadence in :mod:`traceloom_pipelines.cadence` and the nightly
reconciliation at 23:00, in the deployment's time zone. A tick is skipped while a run of the same
job is still queued or in progress, so a slow run never piles up behind itself. A cadence tick
lands only what is new in its entities (:mod:`traceloom_pipelines.run_plan`: new drop files, a
pull, or an entity never landed), and skips when nothing is; what the landed data reaches
downstream is the ``traceloom_automation`` sensor's (:mod:`traceloom_pipelines.automation`). The
nightly run covers the daily partitions of today and yesterday (UTC)."""

from pathlib import Path

import dagster as dg

from traceloom_pipelines.cadence import CADENCES, Cadence, schedule_timezone
from traceloom_pipelines.jobs import cadence_jobs, nightly_reconciliation_job
from traceloom_pipelines.partitions import recent_window_tags
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.run_plan import plan_run

_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _schedule_skipping_active_runs(
    name: str, cron: str, job, description: str, only_what_is_new: bool = False
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=name,
        cron_schedule=cron,
        job=job,
        execution_timezone=schedule_timezone(),
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
        active = context.instance.get_runs_count(dg.RunsFilter(job_name=job.name, statuses=_ACTIVE))
        if active:
            return dg.SkipReason(f"{active} run(s) of {job.name} still queued or in progress")
        selection = None
        if only_what_is_new:
            # Imported here: the definitions import this module.
            from traceloom_pipelines.definitions import defs

            plan = plan_run(context.instance, defs, job.selection, Path(warehouse.data_dir))
            if not plan.selection:
                return dg.SkipReason(plan.describe())
            selection = sorted(plan.selection)
            context.log.info(f"run plan: {plan.describe()}")
        tags = {"traceloom/schedule": name}
        if not only_what_is_new:
            # The nightly job's marts and report are partitioned: today's and yesterday's days.
            tags.update(recent_window_tags(context.scheduled_execution_time))
        return dg.RunRequest(tags=tags, asset_selection=selection)

    return _schedule


def build_cadence_schedule(cadence: Cadence) -> dg.ScheduleDefinition:
    """The schedule refreshing ``cadence.entities`` on ``cadence.cron``."""
    return _schedule_skipping_active_runs(
        cadence.name,
        cadence.cron,
        cadence_jobs[cadence.name],
        f"Lands {', '.join(cadence.entities)} — {cadence.seed_ref}; a tick lands only what is "
        "new (traceloom_pipelines/run_plan.py), or skips. Start the traceloom_automation sensor "
        "too: it refreshes what the landed data reaches.",
        only_what_is_new=True,
    )


nightly_reconciliation_schedule = _schedule_skipping_active_runs(
    "nightly_reconciliation_2300",
    "0 23 * * *",
    nightly_reconciliation_job,
    "ERP vs MES work orders, WMS vs MES consumption, HR vs MES labour hours; reports per tenant "
    "and day (003 §3.4: daily at 11:00 PM)",
)

schedules = [*(build_cadence_schedule(c) for c in CADENCES), nightly_reconciliation_schedule]
