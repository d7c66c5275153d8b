"""Dagster assets landing the CERTIFICATIONS entities declared in `contract.py`; certificates,
audits and requirements are also pulled from the tenant's certifications API when
``TRACELOOM_CERTIFICATIONS_URL`` is set (connector.py)."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.certifications.connector import (
    ENTITIES_SERVED,
    RESOURCE_KEY,
    certifications_api_from_env,
)
from traceloom_pipelines.sources.certifications.contract import ENTITIES

assets = build_ingestion_assets(
    ENTITIES,
    pullers=dict.fromkeys(ENTITIES_SERVED, RESOURCE_KEY),
    puller_defaults={RESOURCE_KEY: certifications_api_from_env()},
)
