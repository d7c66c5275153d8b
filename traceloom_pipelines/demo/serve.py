"""``traceloom demo serve``: the demo world over loopback HTTP as the HR, WMS and DCSA APIs, with
faults.

The world is read once, at start, from generated drop files (``<landing>/<tenant>/hr/...``,
``<landing>/<tenant>/wms/...``, ``<landing>/<tenant>/logistics/dcsa_events/...``) and served per
tenant under ``/<tenant>/``:

==============================================================  ===================================
route                                                           answer
==============================================================  ===================================
``GET /<tenant>/hr/api/v1/employees?page=&page_size=``          ``{"employees", "total_count",
                                                                "page", "page_size"}`` (003 §5.2.1)
``GET /<tenant>/hr/api/v1/schedules?date=YYYY-MM-DD``           ``{"schedules": [...]}``
``GET /<tenant>/wms/api/v1/materials/stock-levels?location=``   ``{"materials": [...]}`` (§6.2.1)
``GET /<tenant>/wms/api/v1/materials/stock-events?since=&after=&limit=``
                                                                ``{"events": [...], "has_more"}``
                                                                after the (timestamp, transaction
                                                                id) high-water mark (§6.3)
``GET /<tenant>/v2/events?limit=&eventType=&eventCreatedDateTime:gte=``
                                                                DCSA Track & Trace v2: a JSON array
                                                                of events by creation time; more
                                                                waiting: a next page cursor (below)
``POST /oauth/token``                                           client-credentials bearer token
``GET|POST /_faults``                                           show / set the fault switches
==============================================================  ===================================

With ``require_token`` the API routes want ``Authorization: Bearer <token from /oauth/token>``.
Fault switches (:class:`Faults`; CLI flags or ``POST /_faults`` with JSON or query parameters)
act on API routes only, after ``after`` API requests have been answered normally:
``fail_500`` × 500, ``rate_limit`` × 429 with ``Retry-After: retry_after``, ``slow`` ×
answers delayed ``slow_s`` seconds (past the client's timeout), ``malformed`` × a truncated JSON
body, ``client_error`` × ``client_error_status`` (400/404), and ``expire_token_after``: every
token issued so far is revoked after that many API answers (the client sees one 401 mid-pull).

The DCSA route has switches of its own that stay on until set back to 0 (they reproduce how
carrier APIs differ): ``dcsa_next_page_header`` says where the next page is — 0: a bare
``Next-Page-Cursor: <cursor>`` (sent back as ``?cursor=``), 1: a relative ``Next-Page:
/<tenant>/v2/events?cursor=<cursor>`` link, 2: the same link absolute (``http://host:port/…``);
``dcsa_page_size`` > 0 caps every page at that many events whatever ``limit`` asks;
``dcsa_repeat_next_page`` makes every page read by cursor name itself as the next page again (a
server bug the client must stop on); ``dcsa_carrier_spelling`` serves the events as some carriers
spell them (``eventId``, ``unLocationCode``, ``Equipment``/``Laden``; see
:func:`~traceloom_pipelines.demo.logistics.carrier_spelling`). A cursor carries the filters, the
limit and the offset (DCSA: it replaces the other parameters).

Other services mount on the same server: pass ``extra_routes`` (path prefix → handler taking a
:class:`DemoRequest` and returning a :class:`DemoResponse`), e.g. the ERP OData service under
``/<tenant>/erp/``. Handlers of extra routes get the same faults and token check.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from traceloom_pipelines.demo.logistics import carrier_spelling
from traceloom_pipelines.landing.readers import iter_records, list_drop_files
from traceloom_pipelines.sources.hr.contract import employees as hr_employees
from traceloom_pipelines.sources.hr.contract import shift_schedules as hr_shift_schedules
from traceloom_pipelines.sources.logistics.connector import (
    CREATED_SINCE,
    NEXT_PAGE,
    NEXT_PAGE_CURSOR,
)
from traceloom_pipelines.sources.logistics.contract import dcsa_events as logistics_dcsa_events
from traceloom_pipelines.sources.wms.contract import stock_events as wms_stock_events
from traceloom_pipelines.sources.wms.contract import stock_levels as wms_stock_levels

API_PREFIXES = ("hr/api/v1/", "wms/api/v1/")


@dataclass
class TenantWorld:
    """One tenant's served records (JSON objects as the drop files hold them)."""

    employees: list[dict] = field(default_factory=list)
    schedules: list[dict] = field(default_factory=list)
    stock_levels: list[dict] = field(default_factory=list)
    stock_events: list[dict] = field(default_factory=list)
    dcsa_events: list[dict] = field(default_factory=list)


def _event_key(event: dict) -> tuple[datetime, str]:
    return (
        datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")),
        str(event["transaction_id"]),
    )


def _created(event: dict) -> datetime:
    """A DCSA event's ``eventCreatedDateTime`` (``KeyError``/``ValueError`` when unusable)."""
    return datetime.fromisoformat(str(event["eventCreatedDateTime"]).replace("Z", "+00:00"))


def _by_creation(events: list[dict]) -> list[dict]:
    """DCSA events in creation order (stable); events without a usable creation time dropped."""
    dated = []
    for event in events:
        try:
            dated.append((_created(event), event))
        except (KeyError, ValueError):
            continue
    return [event for _, event in sorted(dated, key=lambda pair: pair[0])]


def load_world(landing_root: Path) -> dict[str, TenantWorld]:
    """Tenant → records, read from the drop files under ``landing_root`` with the landing
    readers. Records that are not valid JSON objects are skipped (the API serves clean
    records); employees keep the latest record per id, stock levels the latest per material
    and warehouse, events are sorted by timestamp then transaction id, DCSA events (read with the
    contract's reader, so in DCSA's spelling) by creation time."""
    world: dict[str, TenantWorld] = {}
    sources = {
        "employees": hr_employees,
        "schedules": hr_shift_schedules,
        "stock_levels": wms_stock_levels,
        "stock_events": wms_stock_events,
        "dcsa_events": logistics_dcsa_events,
    }
    for attribute, entity in sources.items():
        for drop in list_drop_files(landing_root, entity):
            tenant = world.setdefault(drop.tenant_id, TenantWorld())
            for _row, text in iter_records(drop.path, entity):
                try:
                    record = json.loads(text)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    getattr(tenant, attribute).append(record)
    for tenant in world.values():
        tenant.employees = sorted(
            {str(e.get("employee_id")): e for e in tenant.employees}.values(),
            key=lambda e: str(e.get("employee_id")),
        )
        tenant.stock_levels = list(
            {
                (s.get("material_id"), s.get("warehouse")): s
                for s in sorted(tenant.stock_levels, key=lambda s: str(s.get("last_updated")))
            }.values()
        )
        events = {}
        for event in tenant.stock_events:
            try:
                events[_event_key(event)] = event
            except (KeyError, ValueError):
                continue
        tenant.stock_events = [events[k] for k in sorted(events)]
        tenant.dcsa_events = _by_creation(tenant.dcsa_events)
    return world


@dataclass
class Faults:
    """Fault switches of the demo server (counts are of API requests; see module docstring)."""

    after: int = 0
    fail_500: int = 0
    rate_limit: int = 0
    retry_after: int = 1
    slow: int = 0
    slow_s: float = 5.0
    malformed: int = 0
    client_error: int = 0
    client_error_status: int = 404
    expire_token_after: int = -1
    # DCSA route modes (stay on until set back to 0; see the module docstring)
    dcsa_next_page_header: int = 0  # 0 Next-Page-Cursor, 1 relative Next-Page, 2 absolute
    dcsa_page_size: int = 0
    dcsa_repeat_next_page: int = 0
    dcsa_carrier_spelling: int = 0

    def update(self, values: dict) -> None:
        """Set switches from ``values`` (strings are converted to the field's type).

        Raises:
            ValueError: an unknown switch or a value of the wrong type.
        """
        types = {f.name: f.type for f in fields(self)}
        for name, value in values.items():
            if name not in types:
                raise ValueError(f"unknown fault switch {name!r}; known: {', '.join(types)}")
            kind = float if types[name] in ("float", float) else int
            setattr(self, name, kind(value))


@dataclass(frozen=True)
class DcsaQuery:
    """What one DCSA events request asks for; a cursor is this, encoded (filters, limit and the
    offset of the next page), so the server keeps no paging state."""

    limit: int = 100
    since: str | None = None
    event_types: str | None = None
    offset: int = 0

    @classmethod
    def of(cls, query: dict[str, str]) -> DcsaQuery:
        """From the query parameters: ``cursor`` alone, or ``limit``, ``eventType`` and
        ``eventCreatedDateTime:gte``.

        Raises:
            ValueError: a cursor that is not one of ours, a limit that is not a positive
                integer or a ``:gte`` that is not ISO-8601.
        """
        if "cursor" in query:
            return cls.from_cursor(query["cursor"])
        limit = int(query.get("limit", "100"))
        since = query.get(CREATED_SINCE)
        if since is not None:
            datetime.fromisoformat(since.replace("Z", "+00:00"))
        if limit < 1:
            raise ValueError("limit must be a positive integer")
        return cls(limit, since, query.get("eventType"))

    @classmethod
    def from_cursor(cls, cursor: str) -> DcsaQuery:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            return cls(**json.loads(raw))
        except (binascii.Error, UnicodeDecodeError, TypeError, ValueError) as exc:
            raise ValueError(f"unknown cursor {cursor!r}") from exc

    def cursor(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def matches(self, event: dict) -> bool:
        """The event passes the ``eventType`` (case-blind) and ``:gte`` filters."""
        if self.event_types:
            types = {t.strip().upper() for t in self.event_types.split(",")}
            if str(event.get("eventType", "")).upper() not in types:
                return False
        return self.since is None or _created(event) >= datetime.fromisoformat(
            self.since.replace("Z", "+00:00")
        )


@dataclass
class DemoRequest:
    """What a route handler gets: the tenant, the path after ``/<tenant>/``, query, headers."""

    method: str
    tenant_id: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class DemoResponse:
    """A handler's answer."""

    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "application/json"
        return self.body, "application/json"


RouteHandler = Callable[[DemoRequest], DemoResponse]


class DemoServer:
    """The threaded HTTP server; use as a context manager or call :meth:`start`/:meth:`stop`.

    Args:
        world: tenant → records (see :func:`load_world`).
        host / port: where to listen (port 0: any free port; see :attr:`url`).
        require_token: API routes require a bearer token from ``POST /oauth/token``.
        client_id / client_secret: credentials the token endpoint accepts (empty: any).
        faults: initial fault switches.
        extra_routes: path prefix (after ``/<tenant>/``, e.g. ``erp/``) → handler.
    """

    def __init__(
        self,
        world: dict[str, TenantWorld],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        require_token: bool = False,
        client_id: str = "",
        client_secret: str = "",
        faults: Faults | None = None,
        extra_routes: dict[str, RouteHandler] | None = None,
    ):
        self.world = world
        self.require_token = require_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.faults = faults or Faults()
        self.routes: dict[str, RouteHandler] = {
            "hr/api/v1/employees": self._employees,
            "hr/api/v1/schedules": self._schedules,
            "wms/api/v1/materials/stock-levels": self._stock_levels,
            "wms/api/v1/materials/stock-events": self._stock_events,
            "v2/events": self._dcsa_events,
        }
        self.extra_routes = dict(extra_routes or {})
        self.tokens: set[str] = set()
        self.api_requests = 0
        self.request_log: list[tuple[str, str, int]] = []  # (method, path, status)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` the server listens on."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> DemoServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch -------------------------------------------------------------------------------
    def handle(self, request: DemoRequest) -> DemoResponse:
        """Answer one request (faults and token check included)."""
        handler = self.routes.get(request.path) or next(
            (h for prefix, h in self.extra_routes.items() if request.path.startswith(prefix)),
            None,
        )
        if request.tenant_id not in self.world and handler in self.routes.values():
            return DemoResponse(404, {"error": f"unknown tenant {request.tenant_id!r}"})
        if handler is None:
            return DemoResponse(404, {"error": f"no route {request.path!r}"})
        fault = self._fault()
        if fault is not None:
            return fault
        if self.require_token:
            token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if token not in self.tokens:
                return DemoResponse(401, {"error": "invalid or expired token"})
        response = handler(request)
        with self._lock:
            f = self.faults
            if f.expire_token_after > 0:
                f.expire_token_after -= 1
                if f.expire_token_after == 0:
                    self.tokens.clear()
                    f.expire_token_after = -1
        return response

    def _fault(self) -> DemoResponse | None:
        """The fault this API request meets, if any (counters are consumed)."""
        with self._lock:
            self.api_requests += 1
            f = self.faults
            if f.after > 0:
                f.after -= 1
                return None
            if f.fail_500 > 0:
                f.fail_500 -= 1
                return DemoResponse(500, {"error": "injected server error"})
            if f.rate_limit > 0:
                f.rate_limit -= 1
                return DemoResponse(
                    429, {"error": "slow down"}, {"Retry-After": str(f.retry_after)}
                )
            if f.client_error > 0:
                f.client_error -= 1
                return DemoResponse(f.client_error_status, {"error": "injected client error"})
            if f.malformed > 0:
                f.malformed -= 1
                return DemoResponse(200, '{"employees": [{"employee_id": "EMP-')
            delay = 0.0
            if f.slow > 0:
                f.slow -= 1
                delay = f.slow_s
        if delay:
            time.sleep(delay)
        return None

    def issue_token(self, form: dict[str, str]) -> DemoResponse:
        """``POST /oauth/token`` (client credentials)."""
        if self.client_id and (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return DemoResponse(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(token)
        return DemoResponse(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        )

    # -- routes ---------------------------------------------------------------------------------
    def _employees(self, request: DemoRequest) -> DemoResponse:
        try:
            page = int(request.query.get("page", "1"))
            size = int(request.query.get("page_size", "100"))
        except ValueError:
            return DemoResponse(400, {"error": "page and page_size must be integers"})
        if page < 1 or not 1 <= size <= 1000:
            return DemoResponse(400, {"error": "page >= 1 and 1 <= page_size <= 1000"})
        people = self.world[request.tenant_id].employees
        department = request.query.get("department")
        if department:
            people = [p for p in people if p.get("department") == department]
        chunk = people[(page - 1) * size : page * size]
        return DemoResponse(
            200,
            {"employees": chunk, "total_count": len(people), "page": page, "page_size": size},
        )

    def _schedules(self, request: DemoRequest) -> DemoResponse:
        day = request.query.get("date", "")
        if len(day) != 10:
            return DemoResponse(400, {"error": "date=YYYY-MM-DD is required"})
        rows = [s for s in self.world[request.tenant_id].schedules if s.get("shift_date") == day]
        return DemoResponse(200, {"schedules": rows})

    def _stock_levels(self, request: DemoRequest) -> DemoResponse:
        rows = self.world[request.tenant_id].stock_levels
        location = request.query.get("location")
        if location:
            rows = [
                r
                for r in rows
                if str(r.get("warehouse")) == location
                or str(r.get("warehouse")).startswith(f"{location}-")
            ]
        return DemoResponse(200, {"materials": rows})

    def _stock_events(self, request: DemoRequest) -> DemoResponse:
        try:
            limit = int(request.query.get("limit", "500"))
        except ValueError:
            return DemoResponse(400, {"error": "limit must be an integer"})
        events = self.world[request.tenant_id].stock_events
        since = request.query.get("since")
        if since:
            try:
                mark = (
                    datetime.fromisoformat(since.replace("Z", "+00:00")),
                    request.query.get("after", ""),
                )
            except ValueError:
                return DemoResponse(400, {"error": "since must be an ISO-8601 timestamp"})
            events = [e for e in events if _event_key(e) > mark]
        page = events[:limit]
        return DemoResponse(200, {"events": page, "has_more": len(events) > limit})

    def _dcsa_events(self, request: DemoRequest) -> DemoResponse:
        try:
            query = DcsaQuery.of(request.query)
        except ValueError as exc:
            return DemoResponse(400, {"message": str(exc)})
        events = [e for e in self.world[request.tenant_id].dcsa_events if query.matches(e)]
        size = query.limit
        if self.faults.dcsa_page_size > 0:
            size = min(size, self.faults.dcsa_page_size)
        page = events[query.offset : query.offset + size]
        if self.faults.dcsa_carrier_spelling:
            page = [carrier_spelling(event) for event in page]
        headers = {}
        if query.offset + size < len(events):
            repeat = self.faults.dcsa_repeat_next_page and "cursor" in request.query
            following = query if repeat else replace(query, offset=query.offset + size)
            headers = self._dcsa_next_page(request.tenant_id, following.cursor())
        return DemoResponse(200, page, headers)

    def _dcsa_next_page(self, tenant_id: str, cursor: str) -> dict[str, str]:
        """The next page header the ``dcsa_next_page_header`` switch asks for."""
        link = f"/{tenant_id}/v2/events?cursor={cursor}"
        mode = self.faults.dcsa_next_page_header
        if mode == 1:
            return {NEXT_PAGE: link}
        if mode == 2:
            return {NEXT_PAGE: f"{self.url}{link}"}
        return {NEXT_PAGE_CURSOR: cursor}

    # -- HTTP plumbing --------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet by default
                pass

            def _send(self, response: DemoResponse) -> None:
                body, content_type = response.encoded()
                try:
                    self.send_response(response.status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (e.g. its timeout passed)
                with server._lock:
                    server.request_log.append((self.command, self.path, response.status))

            def _dispatch(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/_faults":
                    values = dict(query)
                    if body:
                        values.update(json.loads(body))
                    try:
                        server.faults.update(values)
                    except ValueError as exc:
                        self._send(DemoResponse(400, {"error": str(exc)}))
                        return
                    self._send(DemoResponse(200, asdict(server.faults)))
                    return
                if parts.path == "/oauth/token" and self.command == "POST":
                    form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
                    self._send(server.issue_token(form))
                    return
                tenant, _, rest = parts.path.lstrip("/").partition("/")
                request = DemoRequest(
                    self.command,
                    tenant,
                    rest,
                    query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                self._send(server.handle(request))

            do_GET = _dispatch
            do_POST = _dispatch

        return Handler


def serve(
    landing_root: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    require_token: bool = False,
    client_id: str = "",
    client_secret: str = "",
    faults: Faults | None = None,
    extra_routes: dict[str, RouteHandler] | None = None,
) -> DemoServer:
    """A (not yet started) server for the world under ``landing_root``."""
    return DemoServer(
        load_world(landing_root),
        host,
        port,
        require_token=require_token,
        client_id=client_id,
        client_secret=client_secret,
        faults=faults,
        extra_routes=extra_routes,
    )
