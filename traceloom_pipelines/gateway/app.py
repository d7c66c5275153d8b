"""The push gateway: a Starlette app that turns pushed payloads into drop files (issue 5 §2).

Endpoints (``POST``, JSON body, ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``):

============================================  ==================================  ==============
path                                          lands in                            seed
============================================  ==================================  ==============
``/api/v1/integrations/erp/work-orders``      ``<tenant>/erp/work_orders/``       003 §3.2.1, §3.3
``/api/v1/integrations/hr/attendance``        ``<tenant>/hr/attendance/``         003 §5.2.1, §5.3
``/api/v1/integrations/factory/milestones``   ``<tenant>/factory/production_milestones/``  000 §2.2
``/api/v1/integrations/factory/qr-scans``     ``<tenant>/factory/qr_scans/``      000 §2.3
============================================  ==================================  ==============

``GET /healthz`` answers ``{"status": "ok"}`` without authentication (000 §6 health endpoint).

Order of checks: 401 (no or unknown key; 003 §3.3) → 429 with ``Retry-After`` (the client's token
bucket is empty) → 413 (body over ``TRACELOOM_GATEWAY_MAX_BODY_BYTES``, default 1 MiB) → 400
(not JSON, or the endpoint's JSON schema fails; ``details`` lists every violation with its path)
→ idempotency and duplicate decisions (:mod:`traceloom_pipelines.gateway.store`) → the drop file
is written atomically (``.part``, fsync, rename, fsync dir) → 200.

Every accepted request becomes exactly one JSONL drop file
``gw-<UTC yyyymmddThhmmssffffff>Z-<request id>.jsonl`` under the client's tenant, written before
the 200 is sent: an acknowledged payload is on disk even if the process is killed the next moment.
The request id is in the ``X-Request-ID`` response header. The tenant is always the
authenticated client's. Keys never appear in logs, state or responses.

Responses: work orders answer as 003 §3.2.1 (``status``, ``mraos_work_order_id``,
``erp_work_order_id``, ``message``, ``validation_warnings``) and 409 with the existing
``mraos_work_order_id`` on a duplicate (see ``store.WorkOrderEvent``).
Other endpoints answer ``{"status": "success", "request_id", "records_accepted"}``. An
``Idempotency-Key`` header (any endpoint; 003 §5.3) makes a repeat with the same body get the
first response again (header ``Idempotent-Replayed: true``) without a second write; the same key
with a different body gets 422 (the seed names no code; 422 follows the IETF
Idempotency-Key draft, keeping 409 for a duplicate work order and a key still in flight).
Errors: ``{"status": "error", "error_code", "error", "message", "details"?}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from traceloom_pipelines.gateway.auth import Client, authenticate, load_clients
from traceloom_pipelines.gateway.endpoints import (
    ENDPOINTS,
    WORK_ORDERS,
    PushEndpoint,
    canonical_json,
    utc_instant,
)
from traceloom_pipelines.gateway.ratelimit import RateLimiter
from traceloom_pipelines.gateway.store import (
    Decision,
    GatewayStore,
    WorkOrderEvent,
    error_body,
)
from traceloom_pipelines.landing.drops import drop_folder, write_drop_file

log = logging.getLogger("traceloom.gateway")

MAX_BODY_ENV = "TRACELOOM_GATEWAY_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY_CHARS = 255
# 003 §3.3: "500 Internal Server Error: System error (retry after 5 minutes)".
SERVER_ERROR_RETRY_AFTER_SECONDS = 300

_WORK_ORDER_MESSAGES = {
    "work_order.created": "Work order created successfully",
    "work_order.updated": "Work order updated successfully",
    "work_order.cancelled": "Work order cancelled successfully",
}


@dataclass(frozen=True)
class GatewaySettings:
    """Everything the gateway needs, normally from the environment (:meth:`from_env`).

    Attributes:
        data_dir: the data directory; drops go to ``<data_dir>/landing``, state to
            ``<data_dir>/gateway/state.sqlite3``.
        clients: who may push (:mod:`traceloom_pipelines.gateway.auth`).
        max_body_bytes: larger request bodies get 413.
    """

    data_dir: Path
    clients: tuple[Client, ...]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @property
    def landing_root(self) -> Path:
        return self.data_dir / "landing"

    @property
    def state_path(self) -> Path:
        return self.data_dir / "gateway" / "state.sqlite3"

    @classmethod
    def from_env(cls, data_dir: Path) -> GatewaySettings:
        """Clients from ``TRACELOOM_GATEWAY_CLIENTS``/``_FILE``, the body limit from
        ``TRACELOOM_GATEWAY_MAX_BODY_BYTES``.

        Raises:
            ValueError: if no client is configured or a value is malformed.
        """
        raw_limit = os.environ.get(MAX_BODY_ENV, str(DEFAULT_MAX_BODY_BYTES))
        try:
            limit = int(raw_limit)
        except ValueError:
            raise ValueError(
                f"{MAX_BODY_ENV} must be a number of bytes, got {raw_limit!r}"
            ) from None
        if limit < 1:
            raise ValueError(f"{MAX_BODY_ENV} must be positive")
        return cls(Path(data_dir), load_clients(), limit)


class _BodyTooLarge(Exception):
    pass


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


# Deepest nesting of arrays and objects a pushed body may have: the seeds' payloads need 4.
MAX_BODY_DEPTH = 64


def _depth(value: object) -> int:
    """Nesting depth of arrays and objects in a parsed JSON value (a scalar is 0); iterative,
    so no body can exhaust the interpreter's stack here."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_json_body(raw: bytes) -> object:
    """A request body as strict JSON: UTF-8, no ``NaN``/``Infinity``, no lone surrogates (which
    could not be written back as UTF-8 JSON), nested at most ``MAX_BODY_DEPTH`` levels.

    Raises:
        ValueError: (``json.JSONDecodeError`` and ``UnicodeError`` included) if the body is not.
    """
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_BODY_DEPTH} levels") from None
    if _depth(body) > MAX_BODY_DEPTH:
        raise ValueError(f"nested deeper than {MAX_BODY_DEPTH} levels")
    try:
        canonical_json(body).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds an unpaired surrogate (not valid Unicode)") from None
    return body


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (without reading on) anything past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _json(status: int, body: dict, request_id: str | None = None, **headers: str) -> JSONResponse:
    if request_id:
        headers["X-Request-ID"] = request_id
    return JSONResponse(body, status_code=status, headers=headers)


def _new_request() -> tuple[str, str]:
    """A new request id and its drop-file name (UTC time first, so files sort by arrival)."""
    request_id = uuid.uuid4().hex
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return request_id, f"gw-{stamp}-{request_id}.jsonl"


class PushGateway:
    """The gateway's request handling, bound to its settings, state and rate limiter."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.limiter = RateLimiter()
        self.store: GatewayStore | None = None

    def open(self) -> None:
        """Open the state and settle requests a killed process left half-done."""
        self.store = GatewayStore(self.settings.state_path, self.settings.landing_root)
        recovery = self.store.recover()
        log.info(
            "gateway state %s: %d in-flight request(s) found written, %d discarded; %d client(s)",
            self.settings.state_path,
            recovery.acknowledged,
            recovery.discarded,
            len(self.settings.clients),
        )

    def close(self) -> None:
        """Close the state (at shutdown)."""
        if self.store is not None:
            self.store.close()

    async def handle(self, request: Request, endpoint: PushEndpoint) -> JSONResponse:
        """Answer one push (checks in the order of the module docstring)."""
        client = authenticate(request.headers, self.settings.clients)
        if client is None:
            return _json(
                401,
                error_body("UNAUTHORIZED", "Invalid or missing authentication"),
                **{"WWW-Authenticate": 'Bearer realm="traceloom-gateway"'},
            )
        wait = self.limiter.retry_after(client.client_id, client.rate_per_minute)
        if wait:
            return _json(
                429,
                error_body(
                    "RATE_LIMIT_EXCEEDED",
                    f"Rate limit of {client.rate_per_minute} requests per minute exceeded",
                ),
                **{"Retry-After": str(wait)},
            )
        try:
            raw = await _read_body(request, self.settings.max_body_bytes)
        except _BodyTooLarge:
            return _json(
                413,
                error_body(
                    "PAYLOAD_TOO_LARGE",
                    f"Request body exceeds {self.settings.max_body_bytes} bytes",
                ),
            )
        idempotency_key = request.headers.get("idempotency-key")
        if idempotency_key is not None and not (
            0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS and idempotency_key.isprintable()
        ):
            return self._reject(
                client,
                endpoint,
                raw,
                [
                    {
                        "path": "header Idempotency-Key",
                        "message": f"must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} printable characters",
                        "validator": "idempotency_key",
                    }
                ],
            )
        try:
            body = parse_json_body(raw)
        except ValueError as error:
            message = getattr(error, "msg", None) or str(error)
            return self._reject(
                client,
                endpoint,
                raw,
                [{"path": "$", "message": f"body is not JSON: {message}", "validator": "json"}],
            )
        issues = endpoint.validation_issues(body)
        if issues:
            return self._reject(client, endpoint, raw, [i.as_dict() for i in issues])
        return await run_in_threadpool(self._accept, client, endpoint, body, idempotency_key)

    def _reject(
        self, client: Client, endpoint: PushEndpoint, raw: bytes, details: list[dict]
    ) -> JSONResponse:
        assert self.store is not None
        self.store.record_rejection(
            client_id=client.client_id,
            tenant_id=client.tenant_id,
            endpoint=endpoint.name,
            status_code=400,
            error_code="VALIDATION_ERROR",
            details=details,
            body=raw.decode("utf-8", errors="replace"),
        )
        log.info("rejected %s from %s: %d issue(s)", endpoint.name, client.client_id, len(details))
        return _json(400, error_body("VALIDATION_ERROR", "Invalid payload", details))

    def _accept(
        self, client: Client, endpoint: PushEndpoint, body: object, idempotency_key: str | None
    ) -> JSONResponse:
        """Decide, write the drop file, acknowledge — runs in a worker thread."""
        assert self.store is not None
        request_id, file_name = _new_request()
        records = endpoint.records(body)
        folder = drop_folder(
            self.settings.landing_root, client.tenant_id, endpoint.system, endpoint.entity
        )
        relative = (folder / file_name).relative_to(self.settings.landing_root).as_posix()
        work_order = None
        if endpoint is WORK_ORDERS:
            assert isinstance(body, dict)
            work_order = WorkOrderEvent(
                body["work_order"]["erp_work_order_id"], utc_instant(body["timestamp"])
            )

        def accepted_body(traceloom_id: str | None) -> dict:
            if endpoint is WORK_ORDERS:
                assert isinstance(body, dict)
                return {
                    "status": "success",
                    "mraos_work_order_id": traceloom_id,
                    "erp_work_order_id": body["work_order"]["erp_work_order_id"],
                    "message": _WORK_ORDER_MESSAGES[body["event_type"]],
                    "validation_warnings": [],
                }
            return {"status": "success", "request_id": request_id, "records_accepted": len(records)}

        decision: Decision = self.store.reserve(
            request_id=request_id,
            client_id=client.client_id,
            tenant_id=client.tenant_id,
            endpoint=endpoint.name,
            idempotency_key=idempotency_key,
            body_sha256=hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest(),
            drop_file=relative,
            work_order=work_order,
            accepted_body=accepted_body,
        )
        if not decision.write:
            headers = dict(decision.headers)
            if decision.replayed:
                headers["Idempotent-Replayed"] = "true"
            log.info(
                "%s from %s: %d (%s)",
                endpoint.name,
                client.client_id,
                decision.status_code,
                "replayed" if decision.replayed else decision.body.get("error", ""),
            )
            return _json(decision.status_code, decision.body, decision.request_id, **headers)
        try:
            write_drop_file(
                self.settings.landing_root,
                client.tenant_id,
                endpoint.system,
                endpoint.entity,
                file_name,
                (json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in records),
            )
        except OSError:
            log.exception("could not write drop file %s", relative)
            self.store.release(request_id)
            return _json(
                500,
                error_body("INTERNAL_ERROR", "The payload could not be stored; retry later"),
                request_id,
                **{"Retry-After": str(SERVER_ERROR_RETRY_AFTER_SECONDS)},
            )
        self.store.acknowledge(request_id)
        log.info(
            "accepted %s from %s: %d record(s) → %s",
            endpoint.name,
            client.client_id,
            len(records),
            relative,
        )
        return _json(200, decision.body, request_id)


def create_app(settings: GatewaySettings) -> Starlette:
    """The gateway as an ASGI app (state opened and recovered at startup, closed at shutdown)."""
    gateway = PushGateway(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        gateway.open()
        try:
            yield
        finally:
            gateway.close()

    def route(endpoint: PushEndpoint) -> Route:
        async def push(request: Request) -> JSONResponse:
            return await gateway.handle(request, endpoint)

        return Route(endpoint.path, push, methods=["POST"], name=endpoint.name)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [Route("/healthz", healthz, methods=["GET"]), *(route(e) for e in ENDPOINTS)]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gateway
    return app


def serve(data_dir: Path, host: str = "127.0.0.1", port: int = 8787) -> None:
    """Run the gateway with uvicorn in this process (one process: see ``store`` module docstring).

    Raises:
        ValueError: if the clients or limits in the environment are missing or malformed.
    """
    import uvicorn

    settings = GatewaySettings.from_env(Path(data_dir))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, workers=1, log_level="info")
