"""The one Definitions object: every source system's ingestion assets, the dbt models, the BI
export, jobs, schedules (cadences from the seeds) and sensors, the automation conditions of
everything downstream of landing (traceloom_pipelines/automation.py); freshness policies sit on the
ingestion assets (traceloom_pipelines/cadence.py), owners and tags come from one table
(traceloom_pipelines/ownership.py), and every asset links to its code
(traceloom_pipelines/code_references.py)."""

import dagster as dg

from traceloom_pipelines.automation import automation_sensor, with_automation
from traceloom_pipelines.bi import marts_parquet
from traceloom_pipelines.code_references import with_code_references
from traceloom_pipelines.dbt import (
    dbt_resource,
    traceloom_dbt_daily_models,
    traceloom_dbt_models,
)
from traceloom_pipelines.executors import executor
from traceloom_pipelines.integration.assets import integration_audit
from traceloom_pipelines.jobs import (
    MAIN_JOB,
    cadence_jobs,
    main_job,
    nightly_reconciliation_job,
    system_jobs,
)
from traceloom_pipelines.maintenance import (
    lake_maintenance,
    lake_maintenance_job,
    lake_maintenance_schedule,
)
from traceloom_pipelines.master_data.assets import identity_resolution
from traceloom_pipelines.ownership import with_ownership
from traceloom_pipelines.reconciliation.assets import nightly_reconciliation
from traceloom_pipelines.resources import WarehouseResource, default_data_dir
from traceloom_pipelines.schedules import schedules
from traceloom_pipelines.sensors import run_failure_recorder, sensors
from traceloom_pipelines.sources.ais.assets import assets as ais_assets
from traceloom_pipelines.sources.bridges.assets import assets as bridges_assets
from traceloom_pipelines.sources.certifications.assets import assets as certifications_assets
from traceloom_pipelines.sources.dagster.assets import assets as dagster_assets
from traceloom_pipelines.sources.edi.assets import assets as edi_assets
from traceloom_pipelines.sources.erp.assets import assets as erp_assets
from traceloom_pipelines.sources.factory.assets import assets as factory_assets
from traceloom_pipelines.sources.finance.assets import assets as finance_assets
from traceloom_pipelines.sources.hr.assets import assets as hr_assets
from traceloom_pipelines.sources.iot.assets import assets as iot_assets
from traceloom_pipelines.sources.logistics.assets import assets as logistics_assets
from traceloom_pipelines.sources.mes.assets import assets as mes_assets
from traceloom_pipelines.sources.port.assets import assets as port_assets
from traceloom_pipelines.sources.weather.assets import assets as weather_assets
from traceloom_pipelines.sources.wms.assets import assets as wms_assets

__all__ = ["MAIN_JOB", "defs", "main_job_def"]

ASSETS = with_automation(
    with_ownership(
        [
            *erp_assets,
            *factory_assets,
            *mes_assets,
            *iot_assets,
            *hr_assets,
            *wms_assets,
            *port_assets,
            *dagster_assets,
            *bridges_assets,
            integration_audit,
            *logistics_assets,
            *certifications_assets,
            *finance_assets,
            *weather_assets,
            *ais_assets,
            *edi_assets,
            traceloom_dbt_models,
            identity_resolution,
            traceloom_dbt_daily_models,
            marts_parquet,
            nightly_reconciliation,
            lake_maintenance,
        ]
    )
)

defs = dg.Definitions(
    assets=with_code_references(ASSETS),
    jobs=[
        main_job,
        nightly_reconciliation_job,
        lake_maintenance_job,
        *cadence_jobs.values(),
        *system_jobs.values(),
    ],
    schedules=[*schedules, lake_maintenance_schedule],
    sensors=[*sensors, automation_sensor, run_failure_recorder],
    executor=executor,
    resources={
        "warehouse": WarehouseResource(data_dir=str(default_data_dir())),
        "dbt": dbt_resource(),
    },
)


def main_job_def() -> dg.JobDefinition:
    """The main job, reconstructable in step processes (``dg.reconstructable(main_job_def)``)."""
    return defs.resolve_job_def(MAIN_JOB)
