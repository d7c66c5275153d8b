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

Older SAP gateways (custom OData services in front of ECC, issue #13; seed 002 §1 "SAP OData
APIs", 003 §3.1 "Systems Supported: SAP …") bend this:

- timestamps as ABAP packed timestamps, ``"20231115085320"`` (``YYYYMMDDhhmmss``, UTC; the long
  form ``TIMESTAMPL`` adds up to 7 decimals of a second): :func:`parse_abap_timestamp`;
- booleans as ABAP flags, ``"X"`` (true) and ``""``/``" "`` (false): :func:`parse_abap_boolean`;
- calendar dates as ABAP dates, ``"20231115"`` (``YYYYMMDD``), with ``"00000000"`` (SAP's initial
  date) for "no date": :func:`parse_abap_date`;
- ``$filter`` literals of the ``Edm.DateTime`` form, ``datetime'2023-11-15T08:53:20'`` (UTC, no
  zone), where S/4 wants ``datetimeoffset'…'``; the form is chosen per deployment
  (:data:`FILTER_LITERAL_FORMS`, :func:`filter_literal`);
- zero-padded item numbers (``"00010"``), kept as sent;
- relative ``__next`` links (``"A_PurchaseOrder?$skiptoken=…"``), resolved against the URL of the
  request that answered them; a link to another scheme, host or port is refused;
- server paging only, with no ``$top``/``$skip`` sent (``page_size=0``);
- the SAP client (``sap-client=NNN``, the tenant inside one SAP system) chosen per request by a
  query parameter: ``system_params`` of :func:`iter_entities` go on every request, ``__next``
  links included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, unquote_plus, urljoin, urlsplit, urlunsplit

from traceloom_pipelines.integration.http import SourceProtocolError, redact_url

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

# Timestamp properties an older gateway may send as ABAP packed timestamps (the connector passes
# the contract's TIMESTAMP fields instead; this is the default of direct callers).
TIMESTAMP_FIELDS = frozenset({CHANGE_FIELD})
SAP_CLIENT_PARAM = "sap-client"  # query parameter selecting the SAP client (tenant) of a request
# How a date/time is written in ``$filter``: ``datetimeoffset'2023-11-15T08:53:20.000Z'``
# (Edm.DateTimeOffset, S/4HANA's LastChangeDateTime; the default) or
# ``datetime'2023-11-15T08:53:20'`` (Edm.DateTime, UTC without a zone: custom ECC services).
FILTER_LITERAL_FORMS = ("datetimeoffset", "datetime")
DEFAULT_FILTER_LITERAL = "datetimeoffset"

_DATE_LITERAL = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{4}))?\)/$")
_ABAP_TIMESTAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,7}))?$")
_ABAP_INITIAL = re.compile(r"^0{14}(?:\.0{1,7})?$")
_ABAP_DATE = re.compile(r"^\d{8}$")
_ABAP_INITIAL_DATE = "00000000"
_SAP_CLIENT = re.compile(r"^\d{3}$")
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
    """What the paging code needs from an HTTP client (``SourceHttpClient`` has it).

    A client that also has ``url_for(path_or_url) -> str`` (absolute URL of a relative path)
    lets relative ``__next`` links resolve against the absolute request URL and be checked for
    the same host; without it they resolve against the relative request path.
    """

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


def parse_abap_timestamp(text: str) -> datetime | None:
    """An ABAP packed timestamp (``"20231115085320"``, ``YYYYMMDDhhmmss`` in UTC, as older SAP
    gateways send ``LastChangeDateTime``) → aware UTC datetime.

    The long form (``TIMESTAMPL``, ``"20231115085320.1234567"``) keeps up to microseconds (the
    7th decimal is dropped). SAP's initial value (all zeros) means "no value": None. Issue #13
    item 1 (seed 002 §1).

    Raises:
        ODataLiteralError: if ``text`` is not 14 digits (optionally ``.`` and 1–7 digits) or is
            not a valid date and time.
    """
    stripped = text.strip() if isinstance(text, str) else ""
    if _ABAP_INITIAL.match(stripped):
        return None
    match = _ABAP_TIMESTAMP.match(stripped)
    if match is None:
        raise ODataLiteralError(f"not an ABAP timestamp YYYYMMDDhhmmss[.fffffff]: {text!r}")
    *parts, fraction = match.groups()
    micros = int((fraction or "0").ljust(7, "0")[:6])
    try:
        return datetime(*(int(p) for p in parts), micros, tzinfo=UTC)
    except ValueError as error:
        raise ODataLiteralError(f"ABAP timestamp out of range: {text!r}") from error


def parse_abap_date(text: str) -> date | None:
    """An ABAP date (``"20231115"``, ``YYYYMMDD``, type ``DATS``, as older SAP gateways send
    calendar-day properties) → :class:`datetime.date`.

    SAP's initial date ``"00000000"`` means "no date": None. Surrounding blanks are ignored.
    Issue #13 (seed 002 §1 "SAP OData APIs").

    Raises:
        ODataLiteralError: ``text`` is not 8 digits, or not a calendar day (``"20231345"``,
            ``"20230230"``).
    """
    stripped = text.strip() if isinstance(text, str) else ""
    if stripped == _ABAP_INITIAL_DATE:
        return None
    if not _ABAP_DATE.match(stripped):
        raise ODataLiteralError(f"not an ABAP date YYYYMMDD: {text!r}")
    try:
        return date(int(stripped[:4]), int(stripped[4:6]), int(stripped[6:]))
    except ValueError as error:
        raise ODataLiteralError(f"ABAP date out of range: {text!r}") from error


def parse_abap_boolean(value: object) -> object:
    """An ABAP flag as a JSON boolean: ``"X"`` → True, ``""`` or blanks → False.

    Anything else (JSON booleans, ``"true"``, a stray ``"Y"``) is returned unchanged, so the
    contract's ``is_boolean`` check still quarantines what is neither. Issue #13 item 2.
    """
    if isinstance(value, str):
        if value.strip() == "X":
            return True
        if not value.strip():
            return False
    return value


def parse_sap_clients(text: str) -> dict[str, str]:
    """``"acme-apparel=100, borealis-appliances=200"`` → ``{tenant id: SAP client}``.

    Empty text is an empty mapping. A client is three digits (``000``–``999``), as SAP numbers
    them; each tenant's client keeps the tenants apart (seed 000 "Tenant-aware", issue #13
    item 6).

    Raises:
        ValueError: an entry without ``=``, an empty tenant id, a client that is not three
            digits, or a tenant listed twice.
    """
    clients: dict[str, str] = {}
    for entry in (e.strip() for e in (text or "").split(",")):
        if not entry:
            continue
        tenant, sep, client = (part.strip() for part in entry.partition("="))
        if not sep or not tenant or not _SAP_CLIENT.match(client):
            raise ValueError(
                f"SAP client entry must be <tenant>=<three digits>, got {entry!r} "
                "(e.g. acme-apparel=100,borealis-appliances=200)"
            )
        if tenant in clients:
            raise ValueError(f"tenant {tenant!r} has two SAP clients in {text!r}")
        clients[tenant] = client
    return clients


def iso_utc(moment: datetime) -> str:
    """ISO-8601 UTC text with ``Z``; milliseconds only when not zero (``2023-11-14T22:13:20Z``)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def check_filter_literal_form(form: str) -> str:
    """``form`` lower-cased and stripped, if it is one of :data:`FILTER_LITERAL_FORMS`.

    Raises:
        ValueError: any other form.
    """
    normalized = (form or "").strip().lower()
    if normalized not in FILTER_LITERAL_FORMS:
        raise ValueError(
            f"OData $filter literal form must be one of {', '.join(FILTER_LITERAL_FORMS)}, "
            f"got {form!r}"
        )
    return normalized


def filter_literal(moment: datetime, form: str = DEFAULT_FILTER_LITERAL) -> str:
    """An OData v2 date/time literal of ``moment`` for ``$filter``, in UTC.

    - ``datetimeoffset`` (default): ``datetimeoffset'2023-11-15T08:53:20.000Z'``, millisecond
      precision (``Edm.DateTimeOffset``, S/4HANA's ``LastChangeDateTime``);
    - ``datetime``: ``datetime'2023-11-15T08:53:20'``, UTC wall time without a zone and whole
      seconds (``Edm.DateTime`` as custom ECC services type it; their ABAP timestamps hold no
      fraction). The fraction is dropped, i.e. rounded *down*: a ``ge``/``gt`` lower bound then
      asks for at most one second more, re-read records land as exact duplicates and nothing
      is missed.

    Raises:
        ValueError: ``form`` is not one of :data:`FILTER_LITERAL_FORMS`.
    """
    form = check_filter_literal_form(form)
    moment = moment.astimezone(UTC)
    wall = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if form == "datetime":
        return f"datetime'{wall}'"
    return f"datetimeoffset'{wall}.{moment.microsecond // 1000:03d}Z'"


def _is_date_literal(value: object) -> bool:
    return isinstance(value, str) and value.startswith("/Date(")


def normalize_entity(
    entity: Mapping[str, Any],
    problems: list[str] | None = None,
    *,
    timestamp_fields: Collection[str] = TIMESTAMP_FIELDS,
    boolean_fields: Collection[str] = frozenset(),
    date_fields: Collection[str] = DATE_FIELDS,
) -> dict:
    """One OData v2 entity as a plain record: what the ERP OData contract validates.

    - ``__metadata`` blocks and not-expanded navigations (``{"__deferred": …}``) are dropped;
    - expanded collections ``{"results": [...]}`` become lists (normalised recursively);
    - ``/Date()/`` values become ``YYYY-MM-DD`` (properties in ``date_fields``, default
      :data:`DATE_FIELDS`) or ISO-8601 UTC with ``Z``;
    - a property named in ``date_fields`` sent as an ABAP date (8 digits, ``"20231115"``,
      older gateways) becomes ``YYYY-MM-DD``; the ABAP initial date ``"00000000"`` becomes
      null (:func:`parse_abap_date`); other text (``"2023-11-15"``) is kept as sent;
    - a property named in ``timestamp_fields`` sent as an ABAP timestamp (``"20231115085320"``,
      older gateways) becomes the same ISO-8601 UTC text as its ``/Date()/`` form would; the
      ABAP initial value (all zeros) becomes null;
    - a property named in ``boolean_fields`` sent as an ABAP flag becomes a JSON boolean
      (``"X"`` → true, ``""``/``" "`` → false; :func:`parse_abap_boolean`);
    - everything else (``Edm.Decimal`` strings, zero-padded item numbers) is kept as sent.

    Field names apply at every level (header, items, schedule lines). A ``/Date()/`` literal,
    ABAP timestamp or 8-digit ABAP date that does not parse is kept as text (the contract then
    quarantines the record with ``<field>:is_timestamp`` or ``<field>:is_date``) and described
    in ``problems``.
    """
    options = {
        "timestamp_fields": timestamp_fields,
        "boolean_fields": boolean_fields,
        "date_fields": date_fields,
    }
    out: dict[str, Any] = {}
    for key, value in entity.items():
        if key == "__metadata":
            continue
        if isinstance(value, Mapping):
            if "__deferred" in value:
                continue
            if isinstance(value.get("results"), list):
                out[key] = [_normalize_value(v, problems, options) for v in value["results"]]
            else:
                out[key] = normalize_entity(value, problems, **options)
        elif isinstance(value, list):
            out[key] = [_normalize_value(v, problems, options) for v in value]
        elif _is_date_literal(value):
            try:
                moment = parse_date_literal(value)
            except ODataLiteralError as error:
                if problems is not None:
                    problems.append(f"{key}: {error}")
                out[key] = value
            else:
                out[key] = moment.date().isoformat() if key in date_fields else iso_utc(moment)
        elif key in date_fields and isinstance(value, str) and value.strip().isdigit():
            try:
                day = parse_abap_date(value)
            except ODataLiteralError as error:
                if problems is not None:
                    problems.append(f"{key}: {error}")
                out[key] = value
            else:
                out[key] = None if day is None else day.isoformat()
        elif key in timestamp_fields and isinstance(value, str) and value[:1].isdigit():
            try:
                abap = parse_abap_timestamp(value)
            except ODataLiteralError as error:
                if problems is not None:
                    problems.append(f"{key}: {error}")
                out[key] = value
            else:
                out[key] = None if abap is None else iso_utc(abap)
        elif key in boolean_fields:
            out[key] = parse_abap_boolean(value)
        else:
            out[key] = value
    return out


def _normalize_value(
    value: object, problems: list[str] | None, options: Mapping[str, Collection[str]]
) -> object:
    if isinstance(value, Mapping):
        return normalize_entity(value, problems, **options)
    return value


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
        literal_errors: unparseable ``/Date()/`` values, ABAP timestamps and ABAP dates
            (records kept, quarantined later).
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
    system_params: Mapping[str, str] | None = None,
) -> Iterator[dict]:
    """Every raw entity of an entity set, page after page, whichever way the server pages.

    With ``page_size`` ≥ 1, windows of ``$top=page_size`` are requested at ``$skip`` 0,
    page_size, …; inside a window the server's ``__next`` links (``$skiptoken``) are followed.
    The next window is requested only while the last one came back full and brought new
    entities — a server that ignores ``$top``/``$skip`` (it sent more than ``page_size``, or
    the same entities again) has already sent everything. With ``page_size=0`` no
    ``$top``/``$skip`` is sent at all: one read, paged by the server's ``__next`` until a page
    comes without one (older gateways that do not implement client paging). Entities are
    de-duplicated by ``key``.

    ``__next`` links are used as given when absolute and resolved against the URL of the
    request that returned them when relative (``"A_PurchaseOrder?$skiptoken=…"``); either way
    they must stay on the scheme, host and port of that request (credentials are never sent
    elsewhere). ``system_params`` (e.g. ``{"sap-client": "100"}``) go on every request: with
    ``params`` on the first, and set into each ``__next`` link's query (older gateways leave
    ``sap-client`` out of their links).

    Raises:
        ValueError: ``page_size`` below 0.
        ODataProtocolError: on a non-OData payload, a ``__next`` link that repeats or leads to
            another scheme, host or port, or more than ``max_requests`` requests.
        Whatever ``client.get_json`` raises (HTTP errors after its retries).
    """
    if page_size < 0:
        raise ValueError(f"page_size must be 0 (server paging only) or more, got {page_size}")
    stats = stats if stats is not None else PullStats()
    fixed = dict(system_params or {})
    url_for = getattr(client, "url_for", None)
    first_url = url_for(entity_path) if callable(url_for) else entity_path
    seen: set[tuple] = set()
    skip = 0
    while True:
        window_params = {**params, **fixed}
        if page_size:
            window_params.update({"$top": str(page_size), "$skip": str(skip)})
        stats.client_windows += 1
        url: str | None = first_url
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
                if not isinstance(next_link, str):
                    raise ODataProtocolError(f"__next is not a URL: {str(next_link)[:200]!r}")
                if next_link in visited:
                    raise ODataProtocolError(f"__next link repeats: {redact_url(next_link)}")
                visited.add(next_link)
                stats.server_pages += 1
                # __next is complete (it carries $skiptoken and the original options)
                url, request_params = _with_params(resolve_next_link(url, next_link), fixed), None
            else:
                url = None
        if not page_size or in_window != page_size or new_in_window == 0:
            return
        skip += page_size


def resolve_next_link(request_url: str, next_link: str) -> str:
    """The URL a ``__next`` link points at: as given when absolute, else resolved against
    ``request_url`` (RFC 3986: ``…/SRV/A_PurchaseOrder?$top=5`` + ``A_PurchaseOrder?$skiptoken=5``
    → ``…/SRV/A_PurchaseOrder?$skiptoken=5``).

    Raises:
        ODataProtocolError: the resolved URL's scheme, host or port differs from
            ``request_url``'s (a server must not send the client, and its credentials, to
            another host).
    """
    resolved = urljoin(request_url, next_link.strip())
    if _origin(resolved) != _origin(request_url):
        raise ODataProtocolError(
            f"__next link leaves the service's host: {redact_url(resolved)} "
            f"(requested {redact_url(request_url)})"
        )
    return resolved


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError as error:  # a port that is not a number
        raise ODataProtocolError(f"__next link with an invalid port: {redact_url(url)}") from error
    return scheme, (parts.hostname or "").lower(), port


def _with_params(url: str, params: Mapping[str, str]) -> str:
    """``url`` with each of ``params`` set in its query (replacing a different value); the URL
    is returned unchanged when it already carries them all, so its encoding stays the server's."""
    if not params:
        return url
    parts = urlsplit(url)
    pairs = [p for p in parts.query.split("&") if p]
    present = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        present.setdefault(unquote_plus(name), []).append(unquote_plus(value))
    if all(present.get(name) == [value] for name, value in params.items()):
        return url
    kept = [p for p in pairs if unquote_plus(p.partition("=")[0]) not in params]
    kept += [f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params.items()]
    return urlunsplit(parts._replace(query="&".join(kept)))


def purchase_order_params(
    since: datetime | None,
    *,
    inclusive: bool = True,
    lookback: timedelta = timedelta(0),
    literal_form: str = DEFAULT_FILTER_LITERAL,
) -> dict[str, str]:
    """Query options of a (possibly incremental) ``A_PurchaseOrder`` read.

    ``since`` is the high-water mark of ``LastChangeDateTime`` already landed (UTC). The filter
    is inclusive (``ge``) by default: an order changed in the same millisecond as the mark but
    not yet seen is fetched, and orders already landed come back byte-identical and are skipped
    by landing's exact-duplicate check, so nothing is missed and nothing lands twice.

    ``lookback`` (≥ 0) moves the filter's lower bound back from the mark: ``ge mark −
    lookback``. SAP stamps ``LastChangeDateTime`` when a change starts, not when it commits, so
    an order committed just after a pull can carry a change time a few minutes *before* that
    pull's mark; the look-back fetches it on the next pull (and re-fetches the orders already
    landed in that window, which landing skips as exact duplicates: seed 000 "Idempotent",
    replay-safe records; issue #13 item 7).

    ``literal_form`` is how the bound is written (:func:`filter_literal`):
    ``datetimeoffset'…Z'`` (S/4HANA, default) or ``datetime'…'`` (custom ECC gateways, whole
    seconds rounded down).

    Raises:
        ValueError: a negative ``lookback``, or an unknown ``literal_form``.
    """
    if lookback < timedelta(0):
        raise ValueError(f"lookback must not be negative, got {lookback}")
    params = {
        "$format": "json",
        "$expand": EXPAND,
        "$orderby": f"{CHANGE_FIELD},{KEY_FIELD}",
    }
    if since is not None:
        operator = "ge" if inclusive else "gt"
        bound = filter_literal(since - lookback, literal_form)
        params["$filter"] = f"{CHANGE_FIELD} {operator} {bound}"
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
    lookback: timedelta = timedelta(0),
    system_params: Mapping[str, str] | None = None,
    timestamp_fields: Collection[str] = TIMESTAMP_FIELDS,
    boolean_fields: Collection[str] = frozenset(),
    date_fields: Collection[str] = DATE_FIELDS,
    literal_form: str = DEFAULT_FILTER_LITERAL,
) -> tuple[list[dict], datetime | None]:
    """Purchase orders changed at or after ``since − lookback`` (all when ``since`` is None),
    normalised, with the new high-water mark.

    Args:
        client: the HTTP client of the tenant's SAP system (:class:`JsonGetter`).
        service_path: path of the OData service under the client's base URL.
        since: the high-water mark landed so far (aware, UTC), None for a full load.
        page_size: ``$top`` of each client window; 0 sends no ``$top``/``$skip`` (server
            paging only, see :func:`iter_entities`).
        stats: filled with what the read did.
        lookback: how far before ``since`` the filter starts (late commits; see
            :func:`purchase_order_params`).
        system_params: query parameters sent on every request (``{"sap-client": "100"}``).
        timestamp_fields / boolean_fields / date_fields: properties normalised from their
            ABAP forms (:func:`normalize_entity`); the connector passes the contract's.
        literal_form: how ``$filter`` writes the bound: ``datetimeoffset`` (default) or
            ``datetime`` (:func:`filter_literal`).

    Returns:
        ``(records, high_water_mark)``: each record a :func:`normalize_entity` dict with
        ``to_PurchaseOrderItem`` a list of items (each with its ``to_ScheduleLine`` list), in
        the server's order; the mark is the latest ``LastChangeDateTime`` seen (UTC) or
        ``since`` when nothing newer came (records whose change time does not parse do not
        move it, and records re-read from the look-back window never move it back).

    Raises:
        ValueError: a negative ``page_size`` or ``lookback``, an unknown ``literal_form``.
        ODataProtocolError, and what ``client.get_json`` raises (a gateway refusing the
        literal form answers 400: ``SourceRequestError``).
    """
    literal_form = check_filter_literal_form(literal_form)  # a bad form fails before a request
    stats = stats if stats is not None else PullStats()
    records: list[dict] = []
    mark = since
    entity_path = f"{service_path.strip('/')}/{ENTITY_SET}"
    for entity in iter_entities(
        client,
        entity_path,
        purchase_order_params(since, lookback=lookback, literal_form=literal_form),
        page_size=page_size,
        stats=stats,
        system_params=system_params,
    ):
        record = normalize_entity(
            entity,
            stats.literal_errors,
            timestamp_fields=timestamp_fields,
            boolean_fields=boolean_fields,
            date_fields=date_fields,
        )
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
