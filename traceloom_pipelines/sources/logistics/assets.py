"""Dagster assets landing the LOGISTICS entities declared in `contract.py`; carriers' DCSA events
are also pulled from their Track & Trace API when ``TRACELOOM_DCSA_URL`` is set (connector.py)."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.logistics.connector import (
    DCSA_ENTITY,
    RESOURCE_KEY,
    dcsa_from_env,
)
from traceloom_pipelines.sources.logistics.contract import ENTITIES

assets = build_ingestion_assets(
    ENTITIES,
    pullers={DCSA_ENTITY: RESOURCE_KEY},
    puller_defaults={RESOURCE_KEY: dcsa_from_env()},
)
