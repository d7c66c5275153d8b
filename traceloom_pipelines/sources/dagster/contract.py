"""Platform source contract: failed Dagster runs, recorded by the ``run_failure_recorder``
sensor (traceloom_pipelines/sensors.py) so that integration-health reporting sees them through
the same landing path as any source (003 §8: error rate, alerting).

Drop folder: ``landing/platform/dagster/run_failures/<run_id>.json``, one JSON payload per run.
"""

import pandera.polars as pa

from traceloom_pipelines.landing.checks import TIMESTAMP, field
from traceloom_pipelines.landing.entity import SourceEntity

PLATFORM_TENANT = "platform"

run_failures = SourceEntity(
    system="dagster",
    entity="run_failures",
    seed_ref="003 §8.1 (error rate), §8.3 (alerting)",
    description="One record per failed Dagster run: job, time, failed steps, error message.",
    schema=pa.DataFrameSchema(
        {
            "run_id": field("$.run_id", required=True),
            "job_name": field("$.job_name", required=True),
            "failed_at": field("$.failed_at", TIMESTAMP, required=True),
            "failed_steps": field("$.failed_steps"),
            "error_message": field("$.error_message"),
            "launched_by": field("$.launched_by"),
        },
        name="dagster.run_failures",
    ),
)

ENTITIES = (run_failures,)
