"""Dagster assets landing the public ais feeds declared in `contract.py` (tenant `public`);
the sentences are also pulled over HTTP when ``TRACELOOM_AIS_URL`` is set (connector.py)."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.ais.connector import AIS_RESOURCE_KEY, ais_from_env
from traceloom_pipelines.sources.ais.contract import ENTITIES

assets = build_ingestion_assets(
    ENTITIES,
    pullers={"messages": AIS_RESOURCE_KEY},
    puller_defaults={AIS_RESOURCE_KEY: ais_from_env()},
)
