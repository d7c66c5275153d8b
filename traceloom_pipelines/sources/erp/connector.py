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
``TRACELOOM_ERP_ODATA_SAP_CLIENTS``  SAP client (``sap-client``, three digits) of each tenant:
                                    ``acme-apparel=100,borealis-appliances=200``. Unset: no
                                    ``sap-client`` is sent (the system's default client).
``TRACELOOM_ERP_ODATA_LOOKBACK_``   minutes the incremental filter starts before the mark
``MINUTES``                         (late commits), default 10; 0 turns the look-back off
``TRACELOOM_ERP_ODATA_PAGE_SIZE``   ``$top`` of each client window, default 500; 0 sends no
                                    ``$top``/``$skip`` (server paging only)
``TRACELOOM_ERP_ODATA_FILTER_``     how ``$filter`` writes the change mark: ``datetimeoffset``
``LITERAL``                         (default, ``datetimeoffset'2023-11-15T08:53:20.000Z'``,
                                    S/4HANA) or ``datetime`` (``datetime'2023-11-15T08:53:20'``,
                                    UTC, whole seconds: custom services in front of ECC, which
                                    answer 400 to the other form)
==================================  ===========================================================

Older SAP gateways (custom OData services in front of ECC, issue #13) are read as they come:
ABAP timestamps (``"20231115085320"``) in the contract's TIMESTAMP fields, ABAP dates
(``"20231115"``; ``"00000000"`` is no date, null) in its DATE fields and ABAP flags
(``"X"``/``""``) in its BOOLEAN fields are normalised to what the S/4 service sends (ISO-8601
UTC, ``YYYY-MM-DD``, JSON booleans; a value that does not parse is kept and quarantined as
``<field>:is_timestamp`` / ``is_date`` / ``is_boolean``), relative ``__next`` links are followed
on the same host, and zero-padded item numbers (``"00010"``) are kept as sent (dbt keeps them in
``item_number``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from traceloom_pipelines.landing.checks import BOOLEAN, DATE, TIMESTAMP
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.pull import (
    PullBatch,
    PullResource,
    content_digest,
    pull_env_config,
    record_line,
    write_pull_file,
)
from traceloom_pipelines.sources.erp.contract import purchase_orders_odata
from traceloom_pipelines.sources.erp.odata import (
    DATE_FIELDS,
    DEFAULT_FILTER_LITERAL,
    SAP_CLIENT_PARAM,
    SERVICE_PATH,
    PullStats,
    check_filter_literal_form,
    fetch_purchase_orders,
    iso_utc,
    parse_cursor,
    parse_sap_clients,
)

ENV_PREFIX = "TRACELOOM_ERP_ODATA"
RESOURCE_KEY = "erp_odata"
PULLED_ENTITY = "purchase_orders_odata"
DEFAULT_LOOKBACK_MINUTES = 10
# Settings of this resource read from ``TRACELOOM_ERP_ODATA_<suffix>`` besides pull_env_config's.
EXTRA_ENV_FIELDS = {
    "SAP_CLIENTS": "sap_clients",
    "LOOKBACK_MINUTES": "lookback_minutes",
    "PAGE_SIZE": "page_size",
    "FILTER_LITERAL": "filter_literal",
}
TEXT_ENV_FIELDS = frozenset({"sap_clients", "filter_literal"})  # the others are whole numbers


def contract_properties(entity: SourceEntity, duckdb_type: str) -> frozenset[str]:
    """Names of the OData properties the contract of ``entity`` (its header and child tables)
    types as ``duckdb_type`` (``BOOLEAN``, ``TIMESTAMP`` …), e.g. ``{"IsCompletelyDelivered"}``.

    Only direct properties (``$.<name>``) count; nested paths (``$.to_ScheduleLine[0].…``) are
    left out. These are the properties whose ABAP forms the connector normalises.
    """
    names = set()
    for schema in (entity.schema, *(child.schema for child in entity.children)):
        for column in schema.columns.values():
            metadata = column.metadata or {}
            path = str(metadata.get("path", ""))
            name = path.removeprefix("$.")
            if metadata.get("type") == duckdb_type and name and name.isidentifier():
                names.add(name)
    return frozenset(names)


TIMESTAMP_PROPERTIES = contract_properties(purchase_orders_odata, TIMESTAMP)
BOOLEAN_PROPERTIES = contract_properties(purchase_orders_odata, BOOLEAN)
# The contract's DATE properties, plus the calendar-day properties of nested navigations that
# contract_properties leaves out (to_ScheduleLine's ScheduleLineDeliveryDate).
DATE_PROPERTIES = contract_properties(purchase_orders_odata, DATE) | DATE_FIELDS


class ErpODataResource(PullResource):
    """Pulls purchase orders from SAP's ``API_PURCHASEORDER_PROCESS_SRV`` (OData v2, JSON).

    Attributes (besides :class:`~traceloom_pipelines.landing.pull.PullResource`'s base URL,
    tenants, auth, timeouts, retries and breaker):
        service_path: path of the OData service under the base URL
            (``sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV``).
        page_size: ``$top`` of each client-paging window (the server may page smaller with
            ``__next``); 0 sends no ``$top``/``$skip`` and follows the server's ``__next``
            links until a page comes without one (gateways without client paging).
        sap_clients: SAP client of each tenant, ``"acme-apparel=100,borealis-appliances=200"``
            (:func:`~traceloom_pipelines.sources.erp.odata.parse_sap_clients`); sent as
            ``sap-client`` on every request of that tenant, ``__next`` links included. When
            set, every pulled tenant must have one, and tenants with distinct clients may share
            one base URL without ``{tenant}`` (one SAP system, one client per tenant).
        lookback_minutes: the incremental filter asks for ``LastChangeDateTime ge mark −
            lookback`` (minutes, ≥ 0; default 10): a change committed after a pull but stamped
            up to this long before its mark is still pulled; the re-read orders land as exact
            duplicates, which landing skips.
        filter_literal: how the incremental ``$filter`` writes its bound: ``datetimeoffset``
            (default, S/4HANA's ``Edm.DateTimeOffset``) or ``datetime`` (``Edm.DateTime``, UTC
            without zone, whole seconds rounded down: custom gateways in front of ECC). A
            gateway that wants the other form answers 400, recorded as a failed pull
            (``client_error``) with a dead letter, not a failed step.

    The cursor is the high-water mark of ``LastChangeDateTime`` landed so far, ISO-8601 UTC
    (``2025-11-18T06:02:15.123Z``); empty means a full initial load. The look-back never moves
    it back.
    """

    service_path: str = SERVICE_PATH
    page_size: int = 500
    sap_clients: str = ""
    lookback_minutes: int = DEFAULT_LOOKBACK_MINUTES
    filter_literal: str = DEFAULT_FILTER_LITERAL

    @property
    def source(self) -> str:
        return "erp"

    def sap_client_map(self) -> dict[str, str]:
        """:attr:`sap_clients` as ``{tenant id: three-digit SAP client}``.

        Raises:
            ValueError: a malformed entry (see ``parse_sap_clients``).
        """
        return parse_sap_clients(self.sap_clients)

    def sap_client_for(self, tenant_id: str) -> str | None:
        """The SAP client to send as ``sap-client`` for ``tenant_id``; None when no clients are
        configured (the system's default client answers).

        Raises:
            ValueError: clients are configured but ``tenant_id`` has none (its requests would
                read the default client, i.e. possibly another tenant's data), or a malformed
                entry.
        """
        clients = self.sap_client_map()
        if not clients:
            return None
        if tenant_id not in clients:
            raise ValueError(
                f"erp OData: tenant {tenant_id!r} has no SAP client in sap_clients "
                f"({ENV_PREFIX}_SAP_CLIENTS); configured: {', '.join(sorted(clients))}"
            )
        return clients[tenant_id]

    def tenant_ids(self) -> list[str]:
        """The configured tenants, in order (see ``PullResource.tenant_ids``).

        With :attr:`sap_clients` set, several tenants may share one base URL without
        ``{tenant}`` when each has its own SAP client (the client, not the URL, selects the
        tenant's data).

        Raises:
            ValueError: no tenants; a tenant without an SAP client while clients are
                configured; tenants sharing one base URL and one SAP client (they would all
                receive the same records); a negative look-back or page size; an unknown
                :attr:`filter_literal` form.
        """
        check_filter_literal_form(self.filter_literal)
        if self.lookback_minutes < 0:
            raise ValueError(
                f"erp OData: lookback_minutes must be ≥ 0, not {self.lookback_minutes}"
            )
        if self.page_size < 0:
            raise ValueError(f"erp OData: page_size must be ≥ 0, got {self.page_size}")
        clients = self.sap_client_map()
        tenants = [t.strip() for t in self.tenants.split(",") if t.strip()]
        if not clients:
            return super().tenant_ids()
        if not tenants:
            raise ValueError(f"{self.source}: pull enabled but no tenants configured")
        endpoints: dict[tuple[str, str | None], str] = {}
        for tenant in tenants:
            endpoint = (self.base_url_for(tenant), self.sap_client_for(tenant))
            if endpoint in endpoints:
                raise ValueError(
                    f"erp OData: tenants {endpoints[endpoint]!r} and {tenant!r} share base URL "
                    f"and SAP client {endpoint[1]}; give each its own client or put "
                    "{tenant} in the URL"
                )
            endpoints[endpoint] = tenant
        return tenants

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

        Every request carries ``sap-client`` when the tenant has one (:attr:`sap_clients`);
        the filter starts :attr:`lookback_minutes` before the cursor and writes it in the
        :attr:`filter_literal` form.

        Raises:
            ValueError: ``entity`` is not ``erp/purchase_orders_odata``, the cursor is not
                ISO-8601 with a zone, the SAP clients are misconfigured
                (:meth:`sap_client_for`), or :attr:`filter_literal` is not a known form.
            SourceRequestError, CircuitOpenError: a request failed for good (nothing written,
                cursor unchanged).
            ODataProtocolError: the service answered something that is not OData v2 JSON,
                or its ``__next`` links looped (nothing written, cursor unchanged).
        """
        if (entity.system, entity.entity) != ("erp", PULLED_ENTITY):
            raise ValueError(f"ErpODataResource pulls erp/{PULLED_ENTITY}, not {entity.table}")
        since = parse_cursor(cursor)
        sap_client = self.sap_client_for(tenant_id)
        literal_form = check_filter_literal_form(self.filter_literal)
        lookback = timedelta(minutes=self.lookback_minutes)
        stats = PullStats()
        records, mark = fetch_purchase_orders(
            self.client(tenant_id),
            service_path=self.service_path,
            since=since,
            page_size=self.page_size,
            stats=stats,
            lookback=lookback,
            system_params={SAP_CLIENT_PARAM: sap_client} if sap_client else None,
            timestamp_fields=TIMESTAMP_PROPERTIES,
            boolean_fields=BOOLEAN_PROPERTIES,
            date_fields=DATE_PROPERTIES,
            literal_form=literal_form,
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
                "filter_from": iso_utc(since - lookback) if since is not None else "",
                "lookback_minutes": self.lookback_minutes,
                "filter_literal": literal_form,
                "sap_client": sap_client or "",
            },
        )


def _token(cursor: str | None) -> str:
    """A cursor as a file-name part: ``2025-11-18T06:02:15.123Z`` → ``20251118T060215123Z``."""
    return "".join(ch for ch in (cursor or "") if ch.isalnum())


def erp_odata_resource() -> ErpODataResource:
    """The resource as configured by the ``TRACELOOM_ERP_ODATA_*`` environment (disabled when
    ``TRACELOOM_ERP_ODATA_URL`` is unset); see the module docstring for the variables.

    Raises:
        ValueError: ``…_LOOKBACK_MINUTES`` or ``…_PAGE_SIZE`` is not a whole number, or
            ``…_FILTER_LITERAL`` is neither ``datetimeoffset`` nor ``datetime``.
    """
    overrides: dict[str, object] = {}
    for suffix, name in EXTRA_ENV_FIELDS.items():
        variable = f"{ENV_PREFIX}_{suffix}"
        value = os.environ.get(variable, "").strip()
        if not value:
            continue
        if name == "filter_literal":
            try:
                overrides[name] = check_filter_literal_form(value)
            except ValueError as error:
                raise ValueError(f"{variable}: {error}") from error
            continue
        if name in TEXT_ENV_FIELDS:
            overrides[name] = value
            continue
        try:
            overrides[name] = int(value)
        except ValueError as error:
            raise ValueError(f"{variable} must be a whole number, got {value!r}") from error
    return ErpODataResource(**pull_env_config(ENV_PREFIX, **overrides))
