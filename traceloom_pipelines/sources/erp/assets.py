"""Dagster assets landing the ERP entities declared in `contract.py`; purchase orders are also
pulled from SAP's OData service into ``erp/purchase_orders_odata`` when
``TRACELOOM_ERP_ODATA_URL`` is set (connector.py)."""

from traceloom_pipelines.landing.assets import build_ingestion_assets
from traceloom_pipelines.sources.erp.connector import (
    PULLED_ENTITY,
    RESOURCE_KEY,
    erp_odata_resource,
)
from traceloom_pipelines.sources.erp.contract import ENTITIES

assets = build_ingestion_assets(
    ENTITIES,
    pullers={PULLED_ENTITY: RESOURCE_KEY},
    puller_defaults={RESOURCE_KEY: erp_odata_resource()},
)
