"""The demo world's purchase orders served as SAP's OData v2 purchase-order service.

A route handler for the demo HTTP server (``traceloom demo serve``) and for tests: each tenant's
POs, read from the demo's ``erp/purchase_orders`` drop files, are answered the way an S/4HANA
system answers ``GET …/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV/A_PurchaseOrder``
(seed 002 §1, PO fields 000 §2.1), under ``/<tenant>/erp/`` — as a route of the demo server
(:meth:`ODataPurchaseOrderService.demo_route`, mounted by ``traceloom demo serve``) or through
:meth:`~ODataPurchaseOrderService.handle` (any server that hands over method, path, query and
headers):

- ``$format=json`` (or ``Accept: application/json``), envelope ``{"d": {"results": [...]}}``,
  ``__metadata`` on every entity, ``__deferred`` navigations unless ``$expand``-ed
  (``to_PurchaseOrderItem``, ``to_PurchaseOrderItem/to_ScheduleLine``);
- ``$top``/``$skip`` windows; with ``server_page_size`` set, pages of at most that many entities
  and an absolute ``__next`` URL carrying ``$skiptoken`` (server-driven paging);
- ``$filter`` on ``LastChangeDateTime`` (``gt``/``ge``/``lt``/``le``/``eq`` with
  ``datetimeoffset'…'`` or ``datetime'…'``, joined by ``and``; ``filter_literal`` restricts it
  to one form, as a real gateway types the property), ``$orderby`` on
  ``LastChangeDateTime``/``PurchaseOrder``, ``$inlinecount=allpages``, single entities
  ``A_PurchaseOrder('<id>')``;
- basic auth (401 with ``WWW-Authenticate``), SAP-style JSON error bodies.

SAP shape: ``LastChangeDateTime`` as ``/Date(ms+0000)/``, ``/Date(ms)/`` or with a ``+0480`` /
``-0300`` offset (local milliseconds), calendar dates as ``/Date(midnight ms)/``, quantities and
prices as ``Edm.Decimal`` strings. Standard SAP has no field for the customer, ship window,
route, colour or size of 000 §2.1: they travel in custom fields ``YY1_*_PDH`` (header) and
``YY1_*_PDI`` (item). Cancelled orders have every item deleted (``PurchasingDocumentDeletionCode``
``L``), closed ones every item ``IsCompletelyDelivered``. The drop route's ``lineItemId``
``<poId>-NN`` is SAP item ``NN × 10``.

Switches make it an older SAP gateway (a custom OData service in front of ECC, issue #13), each
on its own or all at once with :meth:`ODataPurchaseOrderService.older_gateway`:
``abap_timestamps`` (``LastChangeDateTime`` as ``"20231115085320"``, UTC), ``abap_dates``
(calendar days as ``"20231115"``, a missing one as ``"00000000"``), ``abap_booleans``
(``IsCompletelyDelivered`` as ``"X"``/``""``), ``padded_item_numbers`` (``"00010"``),
``relative_next`` (``__next`` relative to the request URL and without ``sap-client``),
``client_paging=False`` (``$top``/``$skip`` ignored: server pages only) and ``sap_clients``
(each tenant's data only for its ``sap-client=NNN``; without it, or with another client, the
logon fails with 401 as SAP's does for a user that exists only in the tenant's client) and
``filter_literal`` (``"datetime"``: ``LastChangeDateTime`` typed ``Edm.DateTime``, so ``$filter``
takes only ``datetime'2023-11-15T08:53:20'``, UTC without a zone, and answers 400 to a
``datetimeoffset'…'`` literal; ``"datetimeoffset"`` the other way round; None, the default,
takes both).
``uncommitted`` holds POs whose latest change is still in an open SAP LUW: served at their
previous revision (or not at all) until removed, so a test can commit a change late.

The ERP holds only valid orders: drop records that the drop contract would quarantine (not
JSON, no ``poId``, unparseable ``updatedAt``, negative quantities) are defects of the file
transport and are not served. ``as_of`` (UTC) serves each PO as its latest revision updated by
then, so a test can move the ERP's clock between two incremental pulls.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from traceloom_pipelines.demo.serve import DemoRequest, DemoResponse, RouteHandler
from traceloom_pipelines.landing.readers import iter_records, list_drop_files
from traceloom_pipelines.sources.erp.contract import purchase_orders as drop_purchase_orders
from traceloom_pipelines.sources.erp.odata import (
    ENTITY_SET,
    ITEMS,
    SAP_CLIENT_PARAM,
    SCHEDULE_LINES,
    SERVICE_PATH,
    parse_sap_clients,
)

SERVICE_NAME = "API_PURCHASEORDER_PROCESS_SRV"
MOUNT = "erp"  # path segment after /<tenant>/ (the demo server's route prefix)
# LastChangeDateTime forms served, chosen per PO: the plain and +0000 forms S/4 sends, and
# offsets east and west of UTC (minutes) as other OData producers send them.
_OFFSET_FORMS = (None, 0, 480, -180)
SAP_UNITS = {"pcs": "PC"}  # demo unit → SAP unit of measure (others are already SAP codes)

Response = tuple[int, dict[str, str], bytes]


def _ms(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1000))


def _parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without zone: {text!r}")
    return moment.astimezone(UTC)


def date_literal(day: str) -> str:
    """``YYYY-MM-DD`` → ``/Date(<ms of midnight UTC>)/`` (``Edm.DateTime``, display format Date)."""
    moment = datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC)
    return f"/Date({_ms(moment)})/"


def timestamp_literal(moment: datetime, offset_minutes: int | None) -> str:
    """``/Date(ms)/`` (no offset) or ``/Date(<local ms>±mmmm)/`` for an offset in minutes."""
    utc_ms = _ms(moment)
    if offset_minutes is None:
        return f"/Date({utc_ms})/"
    sign = "+" if offset_minutes >= 0 else "-"
    return f"/Date({utc_ms + offset_minutes * 60_000}{sign}{abs(offset_minutes):04d})/"


def abap_timestamp(moment: datetime) -> str:
    """An ABAP packed timestamp of ``moment`` in UTC: ``YYYYMMDDhhmmss``, with 7 decimals of a
    second (``TIMESTAMPL``) only when the moment has a fraction."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y%m%d%H%M%S")
    return f"{text}.{moment.microsecond:06d}0" if moment.microsecond else text


@dataclass(frozen=True)
class GatewayShape:
    """How the service writes an entity (S/4HANA by default; see the module docstring).

    Attributes:
        abap_timestamps: ``LastChangeDateTime`` as an ABAP timestamp, not ``/Date()/``.
        abap_booleans: booleans as ``"X"`` / ``""``.
        padded_item_numbers: item numbers zero-padded to 5 digits (``"00010"``).
        abap_dates: calendar days (``CreationDate``, ``PurchaseOrderDate``, ship window,
            ``ScheduleLineDeliveryDate``) as ABAP dates ``"YYYYMMDD"``, a missing one as
            SAP's initial date ``"00000000"``, not ``/Date()/`` or null.
    """

    abap_timestamps: bool = False
    abap_booleans: bool = False
    padded_item_numbers: bool = False
    abap_dates: bool = False


S4HANA = GatewayShape()


def _day(day: str | None, shape: GatewayShape) -> str | None:
    """A ``YYYY-MM-DD`` calendar day (or None) as ``shape`` sends it: ``/Date(ms)/`` or null,
    or with ``abap_dates`` ``"YYYYMMDD"`` or ``"00000000"``."""
    if shape.abap_dates:
        return day.replace("-", "") if day else "00000000"
    return date_literal(day) if day else None


def _decimal(value: float | int, places: int) -> str:
    return f"{float(value):.{places}f}"


def _servable(record: object) -> bool:
    """A PO the ERP could hold: the fields the SAP shape needs are there and sane."""
    if not isinstance(record, dict) or not isinstance(record.get("poId"), str):
        return False
    try:
        _parse_iso(str(record.get("updatedAt")))
        quantities = [float(record["quantity"])] + [
            float(line["lineQuantity"]) for line in record["lineItems"]
        ]
    except (KeyError, TypeError, ValueError):
        return False
    return all(q >= 0 for q in quantities) and bool(record.get("supplier"))


@dataclass
class PurchaseOrderBook:
    """Every revision of every PO of one tenant, as the ERP recorded them.

    Attributes:
        revisions: ``poId`` → revisions sorted by ``updatedAt`` then ``revision``
            (each ``(updated_at UTC, drop payload dict)``).
    """

    revisions: dict[str, list[tuple[datetime, dict]]] = field(default_factory=dict)

    @classmethod
    def from_landing(cls, landing_root: Path, tenant_id: str) -> PurchaseOrderBook:
        """Read the tenant's ``erp/purchase_orders`` drop files (any format the drop route reads).

        Records the drop contract would quarantine are left out (see the module docstring).
        """
        book = cls()
        for drop in list_drop_files(Path(landing_root), drop_purchase_orders):
            if drop.tenant_id != tenant_id:
                continue
            for _row, text in iter_records(drop.path, drop_purchase_orders):
                try:
                    record = json.loads(text)
                except json.JSONDecodeError:
                    continue
                if _servable(record):
                    book.add(record)
        return book

    def add(self, record: dict) -> None:
        """Record one revision (a drop-route PO payload)."""
        moment = _parse_iso(record["updatedAt"])
        revisions = self.revisions.setdefault(record["poId"], [])
        if any(r == record for _, r in revisions):
            return  # a duplicate delivery of the same revision
        revisions.append((moment, record))
        revisions.sort(key=lambda item: (item[0], int(item[1].get("revision") or 0)))

    def current(
        self, as_of: datetime | None = None, uncommitted: frozenset[str] | set[str] = frozenset()
    ) -> list[tuple[datetime, dict]]:
        """The latest revision of each PO updated by ``as_of`` (all when None), by PO id.

        For a PO in ``uncommitted`` that latest revision is not committed yet: the one before
        it is served (none for a new PO).
        """
        out = []
        for po_id in sorted(self.revisions):
            revisions = [r for r in self.revisions[po_id] if as_of is None or r[0] <= as_of]
            if po_id in uncommitted:
                revisions = revisions[:-1]
            if revisions:
                out.append(revisions[-1])
        return out


def to_sap_purchase_order(
    payload: dict,
    base_url: str,
    expand_items: bool,
    expand_schedule: bool,
    shape: GatewayShape = S4HANA,
) -> dict:
    """One drop-route PO payload as an ``A_PurchaseOrder`` entity of OData v2 JSON, written
    the way ``shape`` says (S/4HANA by default)."""
    po_id = payload["poId"]
    key = f"{ENTITY_SET}('{po_id}')"
    changed = _parse_iso(payload["updatedAt"])
    offset = _OFFSET_FORMS[zlib.crc32(po_id.encode()) % len(_OFFSET_FORMS)]
    route = payload.get("routeTemplate") or {}
    first_day = changed.date().isoformat()
    entity = {
        "__metadata": {
            "id": f"{base_url}/{key}",
            "uri": f"{base_url}/{key}",
            "type": f"{SERVICE_NAME}.A_PurchaseOrderType",
        },
        "PurchaseOrder": po_id,
        "CompanyCode": "1010",
        "PurchaseOrderType": "NB",
        "PurchasingDocumentDeletionCode": "",
        "CreationDate": _day(first_day, shape),
        "Supplier": payload["supplier"],
        "PurchasingOrganization": "1010",
        "PurchasingGroup": "001",
        "DocumentCurrency": payload.get("currency") or "",
        "PurchaseOrderDate": _day(first_day, shape),
        "LastChangeDateTime": abap_timestamp(changed)
        if shape.abap_timestamps
        else timestamp_literal(changed, offset),
        "YY1_Customer_PDH": payload.get("customer") or "",
        "YY1_ShipWindowStart_PDH": _day(payload.get("shipWindowStart"), shape),
        "YY1_ShipWindowEnd_PDH": _day(payload.get("shipWindowEnd"), shape),
        "YY1_RouteOrigin_PDH": route.get("origin") or "",
        "YY1_RoutePorts_PDH": ",".join(route.get("ports") or []),
        "YY1_RouteDestination_PDH": route.get("destination") or "",
    }
    items = [
        _sap_item(payload, position, line, base_url, expand_schedule, shape)
        for position, line in enumerate(payload.get("lineItems") or [], start=1)
    ]
    entity[ITEMS] = (
        {"results": items} if expand_items else {"__deferred": {"uri": f"{base_url}/{key}/{ITEMS}"}}
    )
    return entity


def _sap_item(
    payload: dict,
    position: int,
    line: dict,
    base_url: str,
    expand_schedule: bool,
    shape: GatewayShape,
) -> dict:
    po_id = payload["poId"]
    item_no = f"{position * 10:05d}" if shape.padded_item_numbers else str(position * 10)
    delivered = payload.get("poStatus") == "closed"
    key = f"A_PurchaseOrderItem(PurchaseOrder='{po_id}',PurchaseOrderItem='{item_no}')"
    status = payload.get("poStatus")
    price = payload.get("price")
    schedule = {
        "__metadata": {
            "id": f"{base_url}/A_PurchaseOrderScheduleLine(PurchasingDocument='{po_id}',"
            f"PurchasingDocumentItem='{item_no}',ScheduleLine='1')",
            "type": f"{SERVICE_NAME}.A_PurchaseOrderScheduleLineType",
        },
        "PurchasingDocument": po_id,
        "PurchasingDocumentItem": item_no,
        "ScheduleLine": "1",
        "ScheduleLineDeliveryDate": _day(payload.get("requestedDeliveryDate"), shape),
        "ScheduleLineOrderQuantity": _decimal(line["lineQuantity"], 3),
    }
    return {
        "__metadata": {
            "id": f"{base_url}/{key}",
            "uri": f"{base_url}/{key}",
            "type": f"{SERVICE_NAME}.A_PurchaseOrderItemType",
        },
        "PurchaseOrder": po_id,
        "PurchaseOrderItem": item_no,
        "PurchaseOrderItemText": payload.get("product") or "",
        "Plant": payload.get("factory") or "",
        "Material": line.get("sku") or "",
        "OrderQuantity": _decimal(line["lineQuantity"], 3),
        "PurchaseOrderQuantityUnit": SAP_UNITS.get(payload.get("unit"), payload.get("unit") or ""),
        "NetPriceAmount": None if price is None else _decimal(price, 2),
        "NetPriceQuantity": "1",
        "DocumentCurrency": payload.get("currency") or "",
        "IsCompletelyDelivered": ("X" if delivered else "") if shape.abap_booleans else delivered,
        "PurchasingDocumentDeletionCode": "L" if status == "cancelled" else "",
        "YY1_Color_PDI": line.get("color") or "",
        "YY1_Size_PDI": line.get("size") or "",
        SCHEDULE_LINES: {"results": [schedule]}
        if expand_schedule
        else {"__deferred": {"uri": f"{base_url}/{key}/{SCHEDULE_LINES}"}},
    }


class ODataRequestError(ValueError):
    """A request the service rejects (400 with an SAP-style error body)."""


_FILTER_TERM = re.compile(
    r"^\s*LastChangeDateTime\s+(gt|ge|lt|le|eq)\s+(datetimeoffset|datetime)'([^']+)'\s*$"
)
FILTER_LITERAL_FORMS = ("datetimeoffset", "datetime")
_COMPARE = {
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
}


def parse_filter(text: str, literal_form: str | None = None) -> list[tuple[str, datetime]]:
    """``LastChangeDateTime ge datetimeoffset'…' and …`` → ``[(operator, UTC datetime)]``.

    ``datetime'…'`` literals (no zone) are taken as UTC, as SAP does for ``Edm.DateTime``.

    ``literal_form`` is the one literal form the gateway takes, as SAP types
    ``LastChangeDateTime``: ``"datetime"`` (``Edm.DateTime``: ``datetime'…'`` without a zone)
    or ``"datetimeoffset"`` (``Edm.DateTimeOffset``: ``datetimeoffset'…'`` with ``Z`` or an
    offset); None takes both, with or without a zone.

    Raises:
        ODataRequestError: any other filter expression, or a literal of another form than
            ``literal_form`` (a real gateway: "Invalid parametertype used at function").
    """
    terms = []
    for part in re.split(r"\s+and\s+", text.strip()):
        match = _FILTER_TERM.match(part)
        if match is None:
            raise ODataRequestError(f"unsupported $filter term: {part!r}")
        operator, form, literal = match.groups()
        try:
            moment = datetime.fromisoformat(literal.replace("Z", "+00:00"))
        except ValueError as error:
            raise ODataRequestError(f"invalid date/time literal in $filter: {literal!r}") from error
        zoned = moment.tzinfo is not None
        if literal_form is not None and (
            form != literal_form or zoned != (literal_form == "datetimeoffset")
        ):
            expected = "Edm.DateTime" if literal_form == "datetime" else "Edm.DateTimeOffset"
            raise ODataRequestError(
                f"Invalid parametertype used at function '{operator}': LastChangeDateTime is "
                f"{expected}, got {form}'{literal}'"
            )
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        terms.append((operator, moment))
    return terms


def _non_negative_int(params: Mapping[str, str], name: str, default: int | None) -> int | None:
    if name not in params:
        return default
    try:
        value = int(params[name])
    except ValueError as error:
        raise ODataRequestError(f"{name} must be a non-negative integer") from error
    if value < 0:
        raise ODataRequestError(f"{name} must be a non-negative integer")
    return value


@dataclass
class ODataPurchaseOrderService:
    """The demo ERP's purchase-order service for every tenant of a demo world.

    Attributes:
        landing_root: the demo world's landing folder (POs read from
            ``<tenant>/erp/purchase_orders/``, lazily, once per tenant).
        user, password: basic-auth credentials required (None: no auth).
        server_page_size: the most entities per response, with ``__next`` when more
            (None: client paging only, ``$top``/``$skip`` honoured and no ``__next``).
        as_of: the ERP's clock (UTC): POs as of their latest revision updated by then.
        abap_timestamps, abap_booleans, padded_item_numbers, abap_dates: entity shape of an
            older gateway (:class:`GatewayShape`).
        relative_next: ``__next`` links relative to the request URL
            (``A_PurchaseOrder?…&$skiptoken=N``), without ``sap-client``.
        client_paging: False ignores ``$top``/``$skip`` (pages only by ``server_page_size``,
            all at once without it).
        sap_clients: tenant → SAP client (three digits) that must come as ``sap-client``;
            a tenant listed here answers 401 without it or with another client.
        uncommitted: PO ids whose latest change is not committed yet (served at the revision
            before it; see :meth:`PurchaseOrderBook.current`).
        filter_literal: the one ``$filter`` literal form taken (``"datetime"`` or
            ``"datetimeoffset"``; a literal of the other form answers 400); None takes both.
        requests: ``/<tenant>/<path>?<query>`` of every request served, in order.
    """

    landing_root: Path
    user: str | None = None
    password: str | None = None
    server_page_size: int | None = None
    as_of: datetime | None = None
    abap_timestamps: bool = False
    abap_booleans: bool = False
    padded_item_numbers: bool = False
    abap_dates: bool = False
    relative_next: bool = False
    client_paging: bool = True
    sap_clients: dict[str, str] = field(default_factory=dict)
    uncommitted: set[str] = field(default_factory=set)
    filter_literal: str | None = None
    requests: list[str] = field(default_factory=list)  # path?query of every request served
    _books: dict[str, PurchaseOrderBook] = field(default_factory=dict, repr=False)

    @classmethod
    def older_gateway(
        cls,
        landing_root: Path,
        *,
        sap_clients: dict[str, str] | None = None,
        server_page_size: int | None = 100,
        filter_literal: str | None = "datetime",
        **kwargs,
    ) -> ODataPurchaseOrderService:
        """The service as an older SAP gateway (custom OData service in front of ECC): ABAP
        timestamps, dates and flags, padded item numbers, relative ``__next``, server paging
        only (``server_page_size`` per page, ``$top``/``$skip`` ignored), ``$filter`` only with
        ``filter_literal`` literals (default ``datetime'…'``: 400 for ``datetimeoffset'…'``)
        and, when ``sap_clients`` is given, ``sap-client`` required. ``kwargs`` are further
        fields (user, as_of …).

        Raises:
            ValueError: a ``filter_literal`` other than ``datetime``, ``datetimeoffset``, None.
        """
        if filter_literal is not None and filter_literal not in FILTER_LITERAL_FORMS:
            raise ValueError(f"filter_literal must be one of {FILTER_LITERAL_FORMS} or None")
        return cls(
            Path(landing_root),
            server_page_size=server_page_size,
            abap_timestamps=True,
            abap_booleans=True,
            padded_item_numbers=True,
            abap_dates=True,
            filter_literal=filter_literal,
            relative_next=True,
            client_paging=False,
            sap_clients=dict(sap_clients or {}),
            **kwargs,
        )

    @property
    def shape(self) -> GatewayShape:
        """How entities are written (the entity-shape switches)."""
        return GatewayShape(
            self.abap_timestamps, self.abap_booleans, self.padded_item_numbers, self.abap_dates
        )

    def book(self, tenant_id: str) -> PurchaseOrderBook:
        """The tenant's POs (read from the landing folder on first use)."""
        if tenant_id not in self._books:
            self._books[tenant_id] = PurchaseOrderBook.from_landing(self.landing_root, tenant_id)
        return self._books[tenant_id]

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str]) -> Response:
        """Answer ``GET /<tenant>/erp/sap/opu/odata/sap/…``: ``(status, headers, body)``.

        ``query`` is the raw query string. Never raises for bad input (4xx answers instead).
        """
        tenant, _, rest = path.lstrip("/").partition("/")
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        return self.answer(method, tenant, rest, params, headers)

    def demo_route(self, request: DemoRequest) -> DemoResponse:
        """The handler the demo server mounts under ``erp/`` (``extra_routes={"erp/": …}``)."""
        status, headers, body = self.answer(
            request.method, request.tenant_id, request.path, request.query, request.headers
        )
        headers.pop("Content-Type", None)  # the demo server sets it
        return DemoResponse(status, body, headers)

    def answer(
        self,
        method: str,
        tenant: str,
        path: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Response:
        """Answer one request for ``tenant``; ``path`` is what follows ``/<tenant>/``
        (``erp/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV/A_PurchaseOrder``)."""
        query = urlencode(params, safe="$,/'()")
        self.requests.append(f"/{tenant}/{path}?{query}" if query else f"/{tenant}/{path}")
        lowered = {k.lower(): v for k, v in headers.items()}
        if method.upper() != "GET":
            return _error(405, "/IWBEP/CM_MGW_RT/005", f"method {method} not allowed")
        if not self._authorized(lowered.get("authorization", "")):
            status, hdrs, body = _error(401, "/IWBEP/CM_MGW_RT/401", "authentication required")
            hdrs["WWW-Authenticate"] = 'Basic realm="SAP NetWeaver Application Server"'
            return status, hdrs, body
        required_client = self.sap_clients.get(tenant)
        if required_client is not None and params.get(SAP_CLIENT_PARAM) != required_client:
            # the communication user exists only in the tenant's client: logging on to the
            # default (or another) client fails
            sent = params.get(SAP_CLIENT_PARAM) or "the default client"
            status, hdrs, body = _error(
                401, "/IWFND/CM_CONSUMER/101", f"logon to client {sent} failed"
            )
            hdrs["WWW-Authenticate"] = 'Basic realm="SAP NetWeaver Application Server"'
            return status, hdrs, body
        service = f"{MOUNT}/{SERVICE_PATH}/"
        if not path.startswith(service):
            return _error(404, "/IWBEP/CM_MGW_RT/004", f"no service at /{tenant}/{path}")
        resource = path[len(service) :]
        if params.get("$format", "").lower() != "json" and "json" not in lowered.get("accept", ""):
            return _error(406, "/IWBEP/CM_MGW_RT/006", "the demo service answers JSON only")
        base = f"http://{lowered.get('host', '127.0.0.1')}/{tenant}/{MOUNT}/{SERVICE_PATH}"
        try:
            return self._read(tenant, resource, dict(params), base)
        except ODataRequestError as error:
            return _error(400, "/IWBEP/CM_MGW_RT/022", str(error))

    def _authorized(self, header: str) -> bool:
        if self.user is None:
            return True
        expected = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
        return hmac.compare_digest(header.encode(), f"Basic {expected}".encode())

    def _read(self, tenant: str, resource: str, params: dict[str, str], base: str) -> Response:
        expand = {e.strip() for e in params.get("$expand", "").split(",") if e.strip()}
        unknown = expand - {ITEMS, f"{ITEMS}/{SCHEDULE_LINES}"}
        if unknown:
            raise ODataRequestError(f"unknown navigation in $expand: {sorted(unknown)}")
        expand_schedule = f"{ITEMS}/{SCHEDULE_LINES}" in expand
        expand_items = expand_schedule or ITEMS in expand
        single = re.fullmatch(rf"{ENTITY_SET}\('([^']+)'\)", resource)
        shape = self.shape
        if single:
            for _, payload in self.book(tenant).current(self.as_of, self.uncommitted):
                if payload["poId"] == single.group(1):
                    entity = to_sap_purchase_order(
                        payload, base, expand_items, expand_schedule, shape
                    )
                    return _json(200, {"d": entity})
            return _error(404, "/IWBEP/CM_MGW_RT/020", f"resource {resource} not found")
        if resource != ENTITY_SET:
            return _error(404, "/IWBEP/CM_MGW_RT/020", f"resource {resource} not found")
        rows = self.book(tenant).current(self.as_of, self.uncommitted)
        terms = (
            parse_filter(params["$filter"], self.filter_literal) if params.get("$filter") else []
        )
        for operator, moment in terms:
            rows = [r for r in rows if _COMPARE[operator](r[0], moment)]
        rows = _ordered(rows, params.get("$orderby", ""))
        skip = _non_negative_int(params, "$skip", 0) or 0
        top = _non_negative_int(params, "$top", None)
        if not self.client_paging:  # an older gateway: $top/$skip are not implemented
            skip, top = 0, None
        window_end = len(rows) if top is None else min(len(rows), skip + top)
        start = _non_negative_int(params, "$skiptoken", skip)
        start = max(start, skip)
        end = window_end
        if self.server_page_size is not None:
            end = min(window_end, start + self.server_page_size)
        results = [
            to_sap_purchase_order(payload, base, expand_items, expand_schedule, shape)
            for _, payload in rows[start:end]
        ]
        body: dict = {"results": results}
        if params.get("$inlinecount") == "allpages":
            body["__count"] = str(len(rows))
        if end < window_end:
            next_params = {k: v for k, v in params.items() if k != "$skiptoken"}
            next_params["$skiptoken"] = str(end)
            if self.relative_next:  # relative to the request URL, sap-client left out
                next_params.pop(SAP_CLIENT_PARAM, None)
                body["__next"] = f"{ENTITY_SET}?{urlencode(next_params, safe='$,/')}"
            else:
                body["__next"] = f"{base}/{ENTITY_SET}?{urlencode(next_params, safe='$,/')}"
        return _json(200, {"d": body})


def _ordered(rows: list[tuple[datetime, dict]], orderby: str) -> list[tuple[datetime, dict]]:
    keys = []
    for part in [p.strip() for p in orderby.split(",") if p.strip()]:
        name, _, direction = part.partition(" ")
        if name not in ("LastChangeDateTime", "PurchaseOrder") or direction not in (
            "",
            "asc",
            "desc",
        ):
            raise ODataRequestError(f"unsupported $orderby: {part!r}")
        keys.append((name, direction == "desc"))
    ordered = sorted(rows, key=lambda r: r[1]["poId"])  # stable base order: the key
    for name, descending in reversed(keys):
        ordered.sort(
            key=(lambda r: r[0]) if name == "LastChangeDateTime" else (lambda r: r[1]["poId"]),
            reverse=descending,
        )
    return ordered


def _json(status: int, payload: dict) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return status, {"Content-Type": "application/json; charset=utf-8"}, body


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"error": {"code": code, "message": {"lang": "en", "value": message}}})


GATEWAY_ENV = "TRACELOOM_DEMO_ERP_ODATA_GATEWAY"  # "s4" (default) or "legacy"


def demo_routes(
    landing_root: Path, *, require_token: bool = False, gateway: str | None = None
) -> dict[str, RouteHandler]:
    """The ERP OData route for ``traceloom demo serve`` (``extra_routes`` of the demo server).

    Served at ``<server>/<tenant>/erp/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV/``, with
    server-driven pages of 100. Basic auth with ``TRACELOOM_ERP_ODATA_USER`` /
    ``TRACELOOM_ERP_ODATA_PASSWORD`` when both are set (the variables the pull resource reads),
    unless the server requires its bearer token on every route (``require_token``).

    ``gateway`` (default: ``TRACELOOM_DEMO_ERP_ODATA_GATEWAY``, else ``s4``) picks the service:
    ``s4`` answers as S/4HANA, ``legacy`` as an older SAP gateway
    (:meth:`ODataPurchaseOrderService.older_gateway`), requiring each tenant's ``sap-client``
    from ``TRACELOOM_ERP_ODATA_SAP_CLIENTS`` (the pull resource's variable) when that is set,
    and taking only the ``$filter`` literal form of ``TRACELOOM_ERP_ODATA_FILTER_LITERAL`` (the
    pull resource's variable; unset: ``datetime``, so a puller left at its default
    ``datetimeoffset`` gets 400 on its incremental pulls, as from a real ECC gateway).

    Raises:
        ValueError: an unknown gateway, a malformed ``TRACELOOM_ERP_ODATA_SAP_CLIENTS`` or an
            unknown ``TRACELOOM_ERP_ODATA_FILTER_LITERAL``.
    """
    user = os.environ.get("TRACELOOM_ERP_ODATA_USER")
    password = os.environ.get("TRACELOOM_ERP_ODATA_PASSWORD")
    gateway = (gateway or os.environ.get(GATEWAY_ENV) or "s4").strip().lower()
    auth = {"user": None if require_token or not user else user, "password": password}
    if gateway == "s4":
        service = ODataPurchaseOrderService(Path(landing_root), server_page_size=100, **auth)
    elif gateway == "legacy":
        clients = parse_sap_clients(os.environ.get("TRACELOOM_ERP_ODATA_SAP_CLIENTS", ""))
        literal = os.environ.get("TRACELOOM_ERP_ODATA_FILTER_LITERAL", "").strip().lower()
        service = ODataPurchaseOrderService.older_gateway(
            landing_root,
            sap_clients=clients,
            server_page_size=100,
            filter_literal=literal or "datetime",
            **auth,
        )
    else:
        raise ValueError(f"{GATEWAY_ENV} must be 's4' or 'legacy', got {gateway!r}")
    return {f"{MOUNT}/": service.demo_route}
