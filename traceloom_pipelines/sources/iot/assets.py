"""Dagster assets landing the IoT sensor readings declared in `contract.py`."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.iot.contract import ENTITIES

assets = build_ingestion_assets(ENTITIES)
