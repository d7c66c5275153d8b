"""Dagster assets landing the public port feeds declared in `contract.py` (tenant `public`);
the MarDep XML feeds and the DATA.GOV.HK statistics CSVs are also pulled over HTTP when
``TRACELOOM_MARDEP_URL`` / ``TRACELOOM_PORT_STATS_URL`` are set (connector.py)."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.port.connector import (
    MARDEP_PATH_FIELDS,
    MARDEP_RESOURCE_KEY,
    PORT_STATS_PATH_FIELDS,
    PORT_STATS_RESOURCE_KEY,
    mardep_from_env,
    port_statistics_from_env,
)
from traceloom_pipelines.sources.port.contract import ENTITIES

assets = build_ingestion_assets(
    ENTITIES,
    pullers={
        **dict.fromkeys(MARDEP_PATH_FIELDS, MARDEP_RESOURCE_KEY),
        **dict.fromkeys(PORT_STATS_PATH_FIELDS, PORT_STATS_RESOURCE_KEY),
    },
    puller_defaults={
        MARDEP_RESOURCE_KEY: mardep_from_env(),
        PORT_STATS_RESOURCE_KEY: port_statistics_from_env(),
    },
)
