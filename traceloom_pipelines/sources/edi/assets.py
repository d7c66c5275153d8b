"""Dagster assets landing the EDI entities declared in `contract.py` (drop folders only; the
reader in `connector.py` also writes the 997/CONTRL acknowledgments for the senders)."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.edi.contract import ENTITIES

assets = build_ingestion_assets(ENTITIES)
