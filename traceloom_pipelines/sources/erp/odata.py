"""SAP OData v2 as the S/4HANA purchase-order service speaks it: literals, envelopes, paging.

The service is ``API_PURCHASEORDER_PROCESS_SRV``, entity set ``A_PurchaseOrder`` with its items
(``to_PurchaseOrderItem``) and their schedule lines (``to_ScheduleLine``) expanded, JSON format
(seed 002 §1 "Plant master data fetching via SAP OData APIs"; the PO fields are 000 §2.1's).
Nothing here knows Dagster: :func:`fetch_purchase_orders` works with any client object that has
``get_json(path_or_url, params=None) -> dict | list`` (``integration.http.SourceHttpClient``).

OData v2 JSON in short:

- envelope ``{"d": {"results": [...], "__next": "<url>", "__count": "42"}}``; older services
  send ``{"d": [...]}``; a single entity is ``{"d": {...}}``. An expanded navigation collection
  is ``{"results": [...]}`` inside the record; a navigation that was not expanded is
  ``{"__deferred": {"uri": ...}}``; every entity carries a ``__metadata`` block.
- ``Edm.DateTime`` / ``Edm.DateTimeOffset`` values are ``/Date(<ms>)/`` or
  ``/Date(<ms>+0060)/``: milliseconds since 1970-01-01, and an optional offset in *minutes*
  east of UTC; the milliseconds are local time at that offset, so UTC = ms − offset.
- ``Edm.Decimal`` values are JSON strings (``"120.000"``) so no precision is lost to floats.
- paging: the server may cap a page and send ``__next`` (a URL carrying ``$skiptoken``), or it
  honours the client's ``$top``/``$skip`` and sends no ``__next``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from traceloom_pipelines.integration.http import SourceProtocolError

SERVICE_PATH = "sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV"
ENTITY_SET = "A_PurchaseOrder"
ITEMS = "to_PurchaseOrderItem"
SCHEDULE_LINES = "to_ScheduleLine"
EXPAND = f"{ITEMS},{ITEMS}/{SCHEDULE_LINES}"
CHANGE_FIELD = "LastChangeDateTime"
KEY_FIELD = "PurchaseOrder"

# Edm.DateTime properties with sap:display-format="Date": calendar days (midnight UTC on the
# wire), normalised to YYYY-MM-DD. Every other /Date()/ value becomes a UTC timestamp.
DATE_FIELDS = frozenset(
    {
        "CreationDate",
        "PurchaseOrderDate",
        "ScheduleLineDeliveryDate",
        "YY1_ShipWindowStart_PDH",
        "YY1_ShipWindowEnd_PDH",
    }
)

_DATE_LITERAL = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{4}))?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ODataLiteralError(ValueError):
    """A ``/Date(...)/`` literal that does not parse (the record keeps the text and is quarantined
    by the contract's ``is_timestamp`` / ``is_date`` check)."""


class ODataProtocolError(SourceProtocolError):
    """A response that is not an OData v2 JSON payload (no ``d``, or entities that are not
    objects), or paging that loops.

    A :class:`~traceloom_pipelines.integration.http.SourceProtocolError` (failure class
    ``protocol``): the ingestion asset records the tenant's pull as failed, not the step.
    """


class JsonGetter(Protocol):
    """What the paging code needs from an HTTP client (``SourceHttpClient`` has it)."""

    def get_json(self, path_or_url: str, params: dict | None = None) -> dict | list: ...


def parse_date_literal(literal: str) -> datetime:
    """``/Date(1700000000000)/`` or ``/Date(1700000000000+0060)/`` → aware UTC datetime.

    The optional ``±hhmm``-looking suffix is an offset in minutes (``+0060`` = one hour east of
    UTC) and the milliseconds are local at that offset: UTC = ms − offset.

    Raises:
        ODataLiteralError: if ``literal`` is not such a literal or is out of range.
    """
    match = _DATE_LITERAL.match(literal.strip()) if isinstance(literal, str) else None
    if match is None:
        raise ODataLiteralError(f"not an OData /Date(ms[±offset])/ literal: {literal!r}")
    millis, sign, offset = match.groups()
    offset_minutes = 0 if sign is None else int(offset) * (1 if sign == "+" else -1)
    try:
        return _EPOCH + timedelta(milliseconds=int(millis) - offset_minutes * 60_000)
    except OverflowError as error:
        raise ODataLiteralError(f"/Date()/ literal out of range: {literal!r}") from error


def iso_utc(moment: datetime) -> str:
    """ISO-8601 UTC text with ``Z``; milliseconds only when not zero (``2023-11-14T22:13:20Z``)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def filter_literal(moment: datetime) -> str:
    """An OData v2 ``datetimeoffset'…'`` literal for ``$filter`` (UTC, millisecond precision)."""
    moment = moment.astimezone(UTC)
    return (
        f"datetimeoffset'{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{moment.microsecond // 1000:03d}Z'"
    )


def _is_date_literal(value: object) -> bool:
    return isinstance(value, str) and value.startswith("/Date(")


def normalize_entity(entity: Mapping[str, Any], problems: list[str] | None = None) -> dict:
    """One OData v2 entity as a plain record: what the ERP OData contract validates.

    - ``__metadata`` blocks and not-expanded navigations (``{"__deferred": …}``) are dropped;
    - expanded collections ``{"results": [...]}`` become lists (normalised recursively);
    - ``/Date()/`` values become ``YYYY-MM-DD`` (:data:`DATE_FIELDS`) or ISO-8601 UTC with ``Z``;
    - everything else (``Edm.Decimal`` strings included) is kept as sent.

    A ``/Date()/`` literal that does not parse is kept as text (the contract then quarantines
    the record with ``<field>:is_timestamp`` or ``is_date``) and described in ``problems``.
    """
    out: dict[str, Any] = {}
    for key, value in entity.items():
        if key == "__metadata":
            continue
        if isinstance(value, Mapping):
            if "__deferred" in value:
                continue
            if isinstance(value.get("results"), list):
                out[key] = [_normalize_value(v, problems) for v in value["results"]]
            else:
                out[key] = normalize_entity(value, problems)
        elif isinstance(value, list):
            out[key] = [_normalize_value(v, problems) for v in value]
        elif _is_date_literal(value):
            try:
                moment = parse_date_literal(value)
            except ODataLiteralError as error:
                if problems is not None:
                    problems.append(f"{key}: {error}")
                out[key] = value
            else:
                out[key] = moment.date().isoformat() if key in DATE_FIELDS else iso_utc(moment)
        else:
            out[key] = value
    return out


def _normalize_value(value: object, problems: list[str] | None) -> object:
    return normalize_entity(value, problems) if isinstance(value, Mapping) else value


def unwrap(payload: object) -> tuple[list[dict], str | None]:
    """``(entities, __next)`` of one OData v2 JSON response, whichever envelope it uses.

    Raises:
        ODataProtocolError: if the payload has no ``d`` member (not OData v2 JSON), or an
            entity in it is not a JSON object.
    """
    if not isinstance(payload, Mapping) or "d" not in payload:
        raise ODataProtocolError(f"not an OData v2 JSON payload (no 'd'): {str(payload)[:200]!r}")
    body = payload["d"]
    if isinstance(body, list):  # older services: {"d": [...]}
        return _entities(body), None
    if isinstance(body, Mapping) and isinstance(body.get("results"), list):
        return _entities(body["results"]), body.get("__next")
    if isinstance(body, Mapping):  # a single entity
        return [dict(body)], None
    raise ODataProtocolError(f"unexpected OData 'd' member: {str(body)[:200]!r}")


def _entities(results: list) -> list[dict]:
    """The entities of an OData ``results`` list as dicts.

    Raises:
        ODataProtocolError: an element that is not a JSON object.
    """
    for entity in results:
        if not isinstance(entity, Mapping):
            raise ODataProtocolError(f"OData entity is not an object: {str(entity)[:200]!r}")
    return [dict(e) for e in results]


@dataclass
class PullStats:
    """What one paged read did (for materialization metadata).

    Attributes:
        requests: HTTP GETs issued.
        server_pages: pages reached through ``__next``.
        client_windows: ``$top``/``$skip`` windows requested.
        records: entities returned (after de-duplication by key and change time).
        literal_errors: unparseable ``/Date()/`` values (records kept, quarantined later).
    """

    requests: int = 0
    server_pages: int = 0
    client_windows: int = 0
    records: int = 0
    literal_errors: list[str] = field(default_factory=list)


def iter_entities(
    client: JsonGetter,
    entity_path: str,
    params: Mapping[str, str],
    *,
    page_size: int,
    key: tuple[str, ...] = (KEY_FIELD, CHANGE_FIELD),
    stats: PullStats | None = None,
    max_requests: int = 100_000,
) -> Iterator[dict]:
    """Every raw entity of an entity set, page after page, whichever way the server pages.

    Windows of ``$top=page_size`` are requested at ``$skip`` 0, page_size, …; inside a window
    the server's ``__next`` links (``$skiptoken``) are followed as given. The next window is
    requested only while the last one came back full and brought new entities — a server that
    ignores ``$top``/``$skip`` (it sent more than ``page_size``, or the same entities again)
    has already sent everything. Entities are de-duplicated by ``key``.

    Raises:
        ODataProtocolError: on a non-OData payload or a ``__next`` link that repeats.
        Whatever ``client.get_json`` raises (HTTP errors after its retries).
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {page_size}")
    stats = stats if stats is not None else PullStats()
    seen: set[tuple] = set()
    skip = 0
    while True:
        window_params = {**params, "$top": str(page_size), "$skip": str(skip)}
        stats.client_windows += 1
        url: str | None = entity_path
        request_params: dict | None = window_params
        visited: set[str] = set()
        in_window = new_in_window = 0
        while url is not None:
            if stats.requests >= max_requests:
                raise ODataProtocolError(f"more than {max_requests} requests for {entity_path}")
            stats.requests += 1
            entities, next_link = unwrap(client.get_json(url, params=request_params))
            for entity in entities:
                in_window += 1
                identity = tuple(json.dumps(entity.get(k), sort_keys=True) for k in key)
                if identity in seen:
                    continue
                seen.add(identity)
                new_in_window += 1
                stats.records += 1
                yield entity
            if next_link:
                if next_link in visited:
                    raise ODataProtocolError(f"__next link repeats: {next_link}")
                visited.add(next_link)
                stats.server_pages += 1
                # __next is complete (it carries $skiptoken and the original options)
                url, request_params = next_link, None
            else:
                url = None
        if in_window != page_size or new_in_window == 0:
            return
        skip += page_size


def purchase_order_params(since: datetime | None, *, inclusive: bool = True) -> dict[str, str]:
    """Query options of a (possibly incremental) ``A_PurchaseOrder`` read.

    ``since`` is the high-water mark of ``LastChangeDateTime`` already landed (UTC). The filter
    is inclusive (``ge``) by default: an order changed in the same millisecond as the mark but
    not yet seen is fetched, and orders already landed come back byte-identical and are skipped
    by landing's exact-duplicate check, so nothing is missed and nothing lands twice.
    """
    params = {
        "$format": "json",
        "$expand": EXPAND,
        "$orderby": f"{CHANGE_FIELD},{KEY_FIELD}",
    }
    if since is not None:
        operator = "ge" if inclusive else "gt"
        params["$filter"] = f"{CHANGE_FIELD} {operator} {filter_literal(since)}"
    return params


def parse_cursor(cursor: str | None) -> datetime | None:
    """The stored cursor (ISO-8601 UTC text, or empty) as an aware datetime.

    Raises:
        ValueError: if the cursor is not ISO-8601 with a zone.
    """
    if not cursor:
        return None
    moment = datetime.fromisoformat(cursor.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"ERP OData cursor must carry a zone: {cursor!r}")
    return moment.astimezone(UTC)


def fetch_purchase_orders(
    client: JsonGetter,
    *,
    service_path: str = SERVICE_PATH,
    since: datetime | None = None,
    page_size: int = 500,
    stats: PullStats | None = None,
) -> tuple[list[dict], datetime | None]:
    """Purchase orders changed at or after ``since`` (all when None), normalised, with the new
    high-water mark.

    Returns:
        ``(records, high_water_mark)``: each record a :func:`normalize_entity` dict with
        ``to_PurchaseOrderItem`` a list of items (each with its ``to_ScheduleLine`` list), in
        the server's order; the mark is the latest ``LastChangeDateTime`` seen (UTC) or
        ``since`` when nothing newer came (records whose change time does not parse do not
        move it).

    Raises:
        ODataProtocolError, and what ``client.get_json`` raises.
    """
    stats = stats if stats is not None else PullStats()
    records: list[dict] = []
    mark = since
    entity_path = f"{service_path.strip('/')}/{ENTITY_SET}"
    for entity in iter_entities(
        client, entity_path, purchase_order_params(since), page_size=page_size, stats=stats
    ):
        record = normalize_entity(entity, stats.literal_errors)
        records.append(record)
        changed = record.get(CHANGE_FIELD)
        if isinstance(changed, str) and changed.endswith("Z"):
            try:
                moment = parse_cursor(changed)
            except ValueError:  # not a timestamp: kept for quarantine, the mark stays
                continue
            if mark is None or moment > mark:
                mark = moment
    return records, mark
