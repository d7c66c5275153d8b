"""Dagster assets landing the MES entities declared in `contract.py`."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.mes.contract import ENTITIES

assets = build_ingestion_assets(ENTITIES)
