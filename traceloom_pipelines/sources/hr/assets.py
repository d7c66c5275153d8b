"""Dagster assets landing the HR entities declared in `contract.py`; employees and shift
schedules are also pulled from the HR API when ``TRACELOOM_HR_API_URL`` is set (connector.py)."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.hr.connector import RESOURCE_KEY, hr_api_from_env
from traceloom_pipelines.sources.hr.contract import ENTITIES

assets = build_ingestion_assets(
    ENTITIES,
    pullers={"employees": RESOURCE_KEY, "shift_schedules": RESOURCE_KEY},
    puller_defaults={RESOURCE_KEY: hr_api_from_env()},
)
