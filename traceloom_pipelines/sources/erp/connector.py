"""The ERP pull connector: SAP S/4HANA purchase orders over OData v2 into the ERP drop folder.

:class:`ErpODataResource` is the pull resource of ``erp/purchase_orders_odata`` (wired with
``build_ingestion_assets(ENTITIES, pullers={"purchase_orders_odata": "erp_odata"})``). Each pull
reads the tenant's purchase orders changed since the stored high-water mark of
``LastChangeDateTime`` (``sources/erp/odata.py`` does the paging and the literals), writes them
as one JSONL file into ``landing/<tenant>/erp/purchase_orders_odata/``, and returns the new mark;
the asset stores it only after the file has landed (``landing/pull.py``).

Environment (``pull_env_config("TRACELOOM_ERP_ODATA")``):

==================================  ===========================================================
``TRACELOOM_ERP_ODATA_URL``         base URL of the SAP system (``https://s4.example.com``);
                                    ``{tenant}`` is replaced by the tenant id. Unset: no pull.
``TRACELOOM_ERP_ODATA_TENANTS``     comma list of tenant ids to pull
``TRACELOOM_ERP_ODATA_USER`` /      basic auth (communication user)
``TRACELOOM_ERP_ODATA_PASSWORD``
``TRACELOOM_ERP_ODATA_TOKEN_URL``,  OAuth2 client credentials (bearer token), instead of basic
``…_CLIENT_ID``, ``…_CLIENT_SECRET``
==================================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.pull import (
    PullBatch,
    PullResource,
    content_digest,
    pull_env_config,
    record_line,
    write_pull_file,
)
from traceloom_pipelines.sources.erp.odata import (
    SERVICE_PATH,
    PullStats,
    fetch_purchase_orders,
    iso_utc,
    parse_cursor,
)

ENV_PREFIX = "TRACELOOM_ERP_ODATA"
RESOURCE_KEY = "erp_odata"
PULLED_ENTITY = "purchase_orders_odata"


class ErpODataResource(PullResource):
    """Pulls purchase orders from SAP's ``API_PURCHASEORDER_PROCESS_SRV`` (OData v2, JSON).

    Attributes (besides :class:`~traceloom_pipelines.landing.pull.PullResource`'s base URL,
    tenants, auth, timeouts, retries and breaker):
        service_path: path of the OData service under the base URL
            (``sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV``).
        page_size: ``$top`` of each client-paging window (the server may page smaller with
            ``__next``).

    The cursor is the high-water mark of ``LastChangeDateTime`` landed so far, ISO-8601 UTC
    (``2025-11-18T06:02:15.123Z``); empty means a full initial load.
    """

    service_path: str = SERVICE_PATH
    page_size: int = 500

    @property
    def source(self) -> str:
        return "erp"

    def pull(
        self,
        *,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        """Fetch ``tenant_id``'s purchase orders changed at or after ``cursor`` into one file.

        The file is ``A_PurchaseOrder_<from>_<to>_<digest>.jsonl`` (from: the cursor or
        ``initial``; to: the new high-water mark; digest of the content), so pulling the same
        window again writes the same file, which the landing ledger skips.

        Raises:
            ValueError: ``entity`` is not ``erp/purchase_orders_odata`` or the cursor is not
                ISO-8601 with a zone.
            SourceRequestError, CircuitOpenError: a request failed for good (nothing written,
                cursor unchanged).
            ODataProtocolError: the service answered something that is not OData v2 JSON,
                or its ``__next`` links looped (nothing written, cursor unchanged).
        """
        if (entity.system, entity.entity) != ("erp", PULLED_ENTITY):
            raise ValueError(f"ErpODataResource pulls erp/{PULLED_ENTITY}, not {entity.table}")
        since = parse_cursor(cursor)
        stats = PullStats()
        records, mark = fetch_purchase_orders(
            self.client(tenant_id),
            service_path=self.service_path,
            since=since,
            page_size=self.page_size,
            stats=stats,
        )
        for problem in stats.literal_errors:
            log(f"erp OData {tenant_id}: unparseable literal kept for quarantine: {problem}")
        next_cursor = iso_utc(mark) if mark is not None else cursor
        files = []
        if records:
            digest = content_digest(record_line(record) for record in records)
            window = f"{_token(cursor) or 'initial'}_{_token(next_cursor)}"
            name = f"A_PurchaseOrder_{window}_{digest}.jsonl"
            files.append(write_pull_file(landing_root, tenant_id, entity, name, records))
        log(
            f"erp OData {tenant_id}: {len(records)} purchase orders in {stats.requests} "
            f"request(s) since {cursor or 'the beginning'}"
        )
        return PullBatch(
            files=files,
            next_cursor=next_cursor,
            metadata={
                "records": len(records),
                "requests": stats.requests,
                "server_pages": stats.server_pages,
                "client_windows": stats.client_windows,
                "unparseable_literals": len(stats.literal_errors),
                "high_water_mark": next_cursor or "",
            },
        )


def _token(cursor: str | None) -> str:
    """A cursor as a file-name part: ``2025-11-18T06:02:15.123Z`` → ``20251118T060215123Z``."""
    return "".join(ch for ch in (cursor or "") if ch.isalnum())


def erp_odata_resource() -> ErpODataResource:
    """The resource as configured by the ``TRACELOOM_ERP_ODATA_*`` environment (disabled when
    ``TRACELOOM_ERP_ODATA_URL`` is unset)."""
    return ErpODataResource(**pull_env_config(ENV_PREFIX))
