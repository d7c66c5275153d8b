"""The push gateway's own state: idempotency keys, accepted work-order events, rejected requests.

Kept in one SQLite file, ``$TRACELOOM_DATA_DIR/gateway/state.sqlite3`` (WAL, ``synchronous=FULL``),
rather than rebuilt from the landing folder at start, because

* idempotency must replay the *response* and compare the *request body's hash* (003 §5.3), and
  neither is in a drop file (a drop file holds only the records, exactly as landing reads them);
* the landing folder belongs to landing: files may be archived or removed once landed, and the
  gateway must still answer 409 for a work order it accepted last month.

The drop file is the truth about what was acknowledged; the state follows it. Every accepted
request goes through three steps:

1. :meth:`GatewayStore.reserve` — in one transaction, decide (replay / 409 / 422 / accept) and,
   on accept, insert the request as ``writing`` with its future response and drop-file name;
2. the caller writes the drop file atomically (``landing.drops.write_drop_file``);
3. :meth:`GatewayStore.acknowledge` — mark it ``written``; only then is the 2xx sent.

A kill between 1 and 2 leaves a ``writing`` row without a file: :meth:`GatewayStore.recover` (run
at start) deletes it, so the sender's retry is accepted afresh. A kill between 2 and 3 leaves a
``writing`` row with its file: recovery marks it ``written``, so a retry with the same
``Idempotency-Key`` replays the response and a re-sent work order gets 409 — the payload was
landed once. A ``writing`` row seen while running belongs to a request still in flight: a second
request with its idempotency key gets 409 (in progress) rather than a second write.

Run one gateway process per data directory (``traceloom gateway`` does): recovery assumes every
``writing`` row at start belongs to a dead process.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
create table if not exists requests (
    request_id text primary key,
    received_at text not null,            -- UTC ISO-8601
    client_id text not null,
    tenant_id text not null,
    endpoint text not null,
    idempotency_key text,
    body_sha256 text not null,            -- of the canonical JSON body
    drop_file text not null,              -- relative to the landing root
    status_code integer not null,
    response_body text not null,          -- JSON
    state text not null check (state in ('writing', 'written'))
);
create unique index if not exists requests_by_idempotency_key
    on requests (client_id, idempotency_key) where idempotency_key is not null;
create table if not exists work_orders (
    seq integer primary key autoincrement,
    tenant_id text not null,
    erp_work_order_id text not null,
    first_request_id text not null,
    unique (tenant_id, erp_work_order_id)
);
create table if not exists work_order_events (
    tenant_id text not null,
    erp_work_order_id text not null,
    event_at text not null,               -- the payload's timestamp as UTC ISO-8601
    request_id text not null references requests (request_id),
    primary key (tenant_id, erp_work_order_id, event_at)
);
create table if not exists rejected_requests (
    id integer primary key autoincrement,
    received_at text not null,
    client_id text not null,
    tenant_id text not null,
    endpoint text not null,
    status_code integer not null,
    error_code text not null,
    details text not null,                -- JSON list of issues
    body text                             -- the request body as received (no headers)
);
"""


def utc_now_iso() -> str:
    """Now in UTC, ISO-8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class WorkOrderEvent:
    """The duplicate key of a work-order webhook: one ERP work order at one event timestamp.

    003 §3.2.1 says duplicates are detected "by ``erp_work_order_id``"; an update of the same work
    order is a new event, so the gateway's duplicate is the same ``erp_work_order_id`` with the
    same ``timestamp`` (compared as a UTC instant) already accepted for the same tenant.
    """

    erp_work_order_id: str
    event_at: str


@dataclass(frozen=True)
class Decision:
    """What to do with a request.

    Attributes:
        write: True if the request was accepted and its drop file must now be written.
        status_code: HTTP status to answer (after writing, if ``write``).
        body: JSON response body.
        request_id: the request's id (the original request's id on a replay).
        drop_file: drop file path relative to the landing root (when ``write``).
        replayed: True if this repeats a stored response for the same idempotency key.
    """

    write: bool
    status_code: int
    body: dict
    request_id: str
    drop_file: str = ""
    replayed: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recovery:
    """What :meth:`GatewayStore.recover` found: requests whose file exists (now ``written``) and
    requests without a file (discarded; never acknowledged)."""

    acknowledged: int
    discarded: int


class GatewayStore:
    """SQLite-backed gateway state (see module docstring), safe to use from several threads.

    Args:
        path: the SQLite file (created with its folder).
        landing_root: the landing root drop-file paths are relative to.
    """

    def __init__(self, path: Path, landing_root: Path) -> None:
        self.path = Path(path)
        self.landing_root = Path(landing_root)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._con.execute("pragma journal_mode=wal")
        self._con.execute("pragma synchronous=full")
        self._con.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the SQLite connection."""
        with self._lock:
            self._con.close()

    def recover(self) -> Recovery:
        """Settle requests left ``writing`` by a killed process (see module docstring)."""
        acknowledged = discarded = 0
        with self._lock:
            self._con.execute("begin immediate")
            try:
                rows = self._con.execute(
                    "select request_id, drop_file from requests where state = 'writing'"
                ).fetchall()
                for request_id, drop_file in rows:
                    if (self.landing_root / drop_file).is_file():
                        self._con.execute(
                            "update requests set state = 'written' where request_id = ?",
                            (request_id,),
                        )
                        acknowledged += 1
                    else:
                        self._forget(request_id)
                        discarded += 1
                self._con.execute("commit")
            except BaseException:
                self._con.execute("rollback")
                raise
        return Recovery(acknowledged, discarded)

    def _forget(self, request_id: str) -> None:
        self._con.execute("delete from work_order_events where request_id = ?", (request_id,))
        self._con.execute("delete from requests where request_id = ?", (request_id,))

    def reserve(
        self,
        *,
        request_id: str,
        client_id: str,
        tenant_id: str,
        endpoint: str,
        idempotency_key: str | None,
        body_sha256: str,
        drop_file: str,
        work_order: WorkOrderEvent | None,
        accepted_body: Callable[[str | None], dict],
    ) -> Decision:
        """Decide a request and, if accepted, record it as ``writing``.

        Args:
            accepted_body: builds the 200 body from the TraceLoom work-order id (None for other
                endpoints); stored so that a retry with the same idempotency key gets it again.

        Returns:
            ``write=True`` with status 200 if accepted; otherwise the answer to send as is:
            the stored response (same idempotency key, same body), 422 (same key, other body),
            409 (same key still in flight, or a duplicate work-order event with the existing
            TraceLoom work-order id).
        """
        with self._lock:
            self._con.execute("begin immediate")
            try:
                decision = self._decide(
                    request_id,
                    client_id,
                    tenant_id,
                    endpoint,
                    idempotency_key,
                    body_sha256,
                    drop_file,
                    work_order,
                    accepted_body,
                )
                self._con.execute("commit")
            except BaseException:
                self._con.execute("rollback")
                raise
        return decision

    def _decide(
        self,
        request_id: str,
        client_id: str,
        tenant_id: str,
        endpoint: str,
        idempotency_key: str | None,
        body_sha256: str,
        drop_file: str,
        work_order: WorkOrderEvent | None,
        accepted_body: Callable[[str | None], dict],
    ) -> Decision:
        con = self._con
        if idempotency_key is not None:
            previous = con.execute(
                "select request_id, endpoint, body_sha256, status_code, response_body, state "
                "from requests where client_id = ? and idempotency_key = ?",
                (client_id, idempotency_key),
            ).fetchone()
            if previous is not None:
                prev_id, prev_endpoint, prev_hash, status, body, state = previous
                if prev_endpoint != endpoint or prev_hash != body_sha256:
                    return Decision(
                        False,
                        422,
                        error_body(
                            "IDEMPOTENCY_KEY_REUSED",
                            "Idempotency-Key was already used with a different request body",
                        ),
                        prev_id,
                    )
                if state == "writing":
                    return Decision(
                        False,
                        409,
                        error_body(
                            "REQUEST_IN_PROGRESS",
                            "A request with this Idempotency-Key is still being processed; "
                            "retry shortly",
                        ),
                        prev_id,
                        headers={"Retry-After": "1"},
                    )
                return Decision(False, status, json.loads(body), prev_id, replayed=True)
        traceloom_id = None
        if work_order is not None:
            existing = con.execute(
                "select w.seq from work_order_events e join work_orders w "
                "on w.tenant_id = e.tenant_id and w.erp_work_order_id = e.erp_work_order_id "
                "where e.tenant_id = ? and e.erp_work_order_id = ? and e.event_at = ?",
                (tenant_id, work_order.erp_work_order_id, work_order.event_at),
            ).fetchone()
            if existing is not None:
                body = error_body(
                    "DUPLICATE_WORK_ORDER",
                    f"Work order {work_order.erp_work_order_id} with event timestamp "
                    f"{work_order.event_at} was already accepted",
                )
                body["mraos_work_order_id"] = traceloom_work_order_id(existing[0])
                body["erp_work_order_id"] = work_order.erp_work_order_id
                return Decision(False, 409, body, request_id)
            con.execute(
                "insert into work_orders (tenant_id, erp_work_order_id, first_request_id) "
                "values (?, ?, ?) on conflict (tenant_id, erp_work_order_id) do nothing",
                (tenant_id, work_order.erp_work_order_id, request_id),
            )
            (seq,) = con.execute(
                "select seq from work_orders where tenant_id = ? and erp_work_order_id = ?",
                (tenant_id, work_order.erp_work_order_id),
            ).fetchone()
            traceloom_id = traceloom_work_order_id(seq)
        body = accepted_body(traceloom_id)
        con.execute(
            "insert into requests values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'writing')",
            (
                request_id,
                utc_now_iso(),
                client_id,
                tenant_id,
                endpoint,
                idempotency_key,
                body_sha256,
                drop_file,
                200,
                json.dumps(body, separators=(",", ":")),
            ),
        )
        if work_order is not None:
            con.execute(
                "insert into work_order_events values (?, ?, ?, ?)",
                (tenant_id, work_order.erp_work_order_id, work_order.event_at, request_id),
            )
        return Decision(True, 200, body, request_id, drop_file=drop_file)

    def acknowledge(self, request_id: str) -> None:
        """Mark a reserved request ``written`` (its drop file is in place)."""
        with self._lock:
            self._con.execute(
                "update requests set state = 'written' where request_id = ?", (request_id,)
            )

    def release(self, request_id: str) -> None:
        """Forget a reserved request whose drop file could not be written (the sender gets 5xx)."""
        with self._lock:
            self._con.execute("begin immediate")
            try:
                self._forget(request_id)
                self._con.execute("commit")
            except BaseException:
                self._con.execute("rollback")
                raise

    def record_rejection(
        self,
        *,
        client_id: str,
        tenant_id: str,
        endpoint: str,
        status_code: int,
        error_code: str,
        details: list[dict],
        body: str | None,
    ) -> None:
        """Keep a rejected request of an authenticated client for review (003 §7.1: validation
        errors are logged for manual review). Headers, and so keys, are never stored."""
        with self._lock:
            self._con.execute(
                "insert into rejected_requests (received_at, client_id, tenant_id, endpoint, "
                "status_code, error_code, details, body) values (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    utc_now_iso(),
                    client_id,
                    tenant_id,
                    endpoint,
                    status_code,
                    error_code,
                    json.dumps(details),
                    body,
                ),
            )


def traceloom_work_order_id(seq: int) -> str:
    """The TraceLoom work-order id returned as ``mraos_work_order_id`` (003 §3.2.1: ``WO-4600``)."""
    return f"WO-{seq}"


def error_body(error: str, message: str, details: list[dict] | None = None) -> dict:
    """The gateway's error body: ``{"status": "error", "error_code", "error", "message",
    "details"?}``; ``error_code`` is the 003 Appendix C code where one fits."""
    codes = {
        "UNAUTHORIZED": "INT-001",
        "RATE_LIMIT_EXCEEDED": "INT-002",
        "VALIDATION_ERROR": "INT-003",
        "NOT_FOUND": "INT-004",
    }
    body: dict = {
        "status": "error",
        "error_code": codes.get(error, error),
        "error": error,
        "message": message,
    }
    if details is not None:
        body["details"] = details
    return body
