"""Dagster assets landing the bridges' health samples."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.bridges.contract import ENTITIES

assets = build_ingestion_assets(ENTITIES)
