"""Dagster assets landing the public weather feeds declared in `contract.py` (tenant `public`);
the HKO feeds and Open-Meteo forecasts are also pulled when ``TRACELOOM_HKO_URL`` /
``TRACELOOM_OPEN_METEO_URL`` are set (connector.py)."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.weather.connector import (
    HKO_DATA_TYPES,
    HKO_RESOURCE_KEY,
    OPEN_METEO_RESOURCE_KEY,
    hko_from_env,
    open_meteo_from_env,
)
from traceloom_pipelines.sources.weather.contract import ENTITIES

assets = build_ingestion_assets(
    ENTITIES,
    pullers={
        **dict.fromkeys(HKO_DATA_TYPES.values(), HKO_RESOURCE_KEY),
        "open_meteo_forecasts": OPEN_METEO_RESOURCE_KEY,
    },
    puller_defaults={
        HKO_RESOURCE_KEY: hko_from_env(),
        OPEN_METEO_RESOURCE_KEY: open_meteo_from_env(),
    },
)
