"""Dagster assets landing the public ais feeds declared in `contract.py` (tenant `public`)."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.ais.contract import ENTITIES

assets = build_ingestion_assets(ENTITIES)
