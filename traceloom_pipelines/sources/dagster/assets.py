"""Dagster assets landing the platform's own run-failure records."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.dagster.contract import ENTITIES

assets = build_ingestion_assets(ENTITIES)
