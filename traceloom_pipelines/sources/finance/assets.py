"""Dagster assets landing the FINANCE entities declared in `contract.py`."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.finance.contract import ENTITIES

assets = build_ingestion_assets(ENTITIES)
