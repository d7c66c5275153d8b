"""Dagster assets landing the WMS entities declared in `contract.py`; stock levels and stock
events are also pulled from the WMS API when ``TRACELOOM_WMS_API_URL`` is set (connector.py)."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.wms.connector import RESOURCE_KEY, wms_api_from_env
from traceloom_pipelines.sources.wms.contract import ENTITIES

assets = build_ingestion_assets(
    ENTITIES,
    pullers={"stock_levels": RESOURCE_KEY, "stock_events": RESOURCE_KEY},
    puller_defaults={RESOURCE_KEY: wms_api_from_env()},
)
