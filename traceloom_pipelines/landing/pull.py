"""Pulling a source over HTTP into its drop folder: the mechanism every pulled entity shares.

A pull resource (a subclass of :class:`PullResource`, e.g. ``sources/hr/connector.py``) fetches
one tenant's new records with :class:`~traceloom_pipelines.integration.http.SourceHttpClient`
and writes them as JSONL drop files (:func:`write_pull_file`, atomic); the ingestion asset then
lands the drop folder as usual. File names are deterministic per content window, so a re-pull of
the same window writes the same bytes under the same name and the landing ledger skips it.

Incremental state lives in ``audit.connector_state`` (one cursor per source, entity and tenant).
The asset reads it before the pull and writes it only after landing succeeded in the same run
(:func:`advance_cursor`): a failed run pulls the same window again, it never skips one.
Failed requests go to ``audit.dead_letters``; each pull is recorded in ``audit.connector_runs``
(requests, retries, dead letters, breaker state) for the ``fct_integration_health`` mart.

Configuration comes from the environment (:func:`pull_env_config`): ``<PREFIX>_URL`` (the base
URL; the resource is enabled when it is set; ``{tenant}`` in it is replaced by the tenant id),
``<PREFIX>_TENANTS`` (comma list), and optionally ``<PREFIX>_USER``/``<PREFIX>_PASSWORD`` (basic
auth) or ``<PREFIX>_TOKEN_URL``/``<PREFIX>_CLIENT_ID``/``<PREFIX>_CLIENT_SECRET`` (bearer token).
Credentials are passed as ``dagster.EnvVar`` so the UI shows the variable names only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from traceloom_pipelines.integration.breaker import CircuitBreaker, breaker_for
from traceloom_pipelines.integration.http import (
    BasicAuth,
    BearerTokenAuth,
    DeadLetter,
    SourceHttpClient,
)
from traceloom_pipelines.landing.drops import write_drop_file
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.warehouse import run

TENANT_PLACEHOLDER = "{tenant}"
# Suffixes of the environment variables read by :func:`pull_env_config`.
ENV_FIELDS = {
    "URL": "base_url",
    "TENANTS": "tenants",
    "USER": "username",
    "PASSWORD": "password",
    "TOKEN_URL": "token_url",
    "CLIENT_ID": "client_id",
    "CLIENT_SECRET": "client_secret",
}


@dataclass
class PullBatch:
    """What one pull of one tenant's entity wrote.

    Attributes:
        files: drop files written (absolute paths), possibly none.
        next_cursor: the cursor to store once these files have landed (None: keep none).
        metadata: plain values for the materialization metadata (pages, records, window …).
        snapshot_keys: for a complete full pull, the business keys of every record the source
            returned (e.g. every ``employee_id``); recorded in ``audit.pull_snapshots`` after
            landing so keys absent from the latest snapshot can be marked inactive. None for
            incremental or incomplete pulls.
    """

    files: list[Path]
    next_cursor: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    snapshot_keys: tuple[str, ...] | None = None


def pull_env_config(prefix: str, **overrides: Any) -> dict[str, Any]:
    """Resource config from ``<prefix>_*`` environment variables (see module docstring).

    Set variables become ``dg.EnvVar`` references (resolved by Dagster when a run starts, so
    the value never appears in the UI or in run config); unset ones are left out, so the
    resource's defaults apply (an unset ``<prefix>_URL`` leaves the resource disabled).
    """
    config: dict[str, Any] = {}
    for suffix, name in ENV_FIELDS.items():
        variable = f"{prefix}_{suffix}"
        if os.environ.get(variable):
            config[name] = dg.EnvVar(variable)
    config.update(overrides)
    return config


def content_digest(lines: Iterable[str]) -> str:
    """First 16 hex digits of the sha256 of ``lines`` joined by newlines (for file names)."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def latest_timestamp(values: Iterable[object], current: str | None = None) -> str | None:
    """The latest instant among ``values`` and ``current``, returned as the text it came as.

    Values are ISO-8601 texts (``Z`` or an offset; no offset = UTC), compared as instants, so
    ``2026-02-04T09:00:00+08:00`` is earlier than ``2026-02-04T02:00:00Z``. Values that are not
    ISO-8601 text are skipped (the contract quarantines those records). Returns None when
    nothing parses. Used for incremental cursors ("max updated-at landed").
    """
    best: tuple[datetime, str] | None = None
    for value in [current, *values]:
        if not isinstance(value, str):
            continue
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if best is None or moment > best[0]:
            best = (moment, value.strip())
    return best[1] if best else None


def record_line(record: object) -> str:
    """One record as the compact JSON line written to a pull file (key order kept)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def write_pull_file(
    landing_root: Path, tenant_id: str, entity: SourceEntity, file_name: str, records: list
) -> Path:
    """Write ``records`` (dicts) as a JSONL drop file of ``entity`` (atomic write-then-rename).

    Returns the final path. Raises ``ValueError`` for a file name with a path separator.
    """
    lines = [record_line(record) for record in records]
    return write_drop_file(landing_root, tenant_id, entity.system, entity.entity, file_name, lines)


def write_pull_document(
    landing_root: Path,
    tenant_id: str,
    entity: SourceEntity,
    prefix: str,
    suffix: str,
    body: bytes,
) -> Path:
    """Write one whole fetched document (XML, CSV, NMEA … as the bytes the source sent) as a
    drop file of ``entity`` named ``<prefix>_<16 hex of the body's sha256><suffix>``.

    Atomic (``<name>.part``, fsync, rename): the drop listing never sees half a file. The name
    comes from the content, so an identical answer is written under the same name with the same
    bytes and the landing ledger skips it; a changed answer lands as a new file. Returns the
    final path. Raises ``ValueError`` for a prefix or suffix holding a path separator.
    """
    name = f"{prefix}_{hashlib.sha256(body).hexdigest()[:16]}{suffix}"
    if "/" in name or os.sep in name or name.startswith("."):
        raise ValueError(f"pull document name must be a plain file name, got {name!r}")
    folder = Path(landing_root) / tenant_id / entity.system / entity.entity
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    partial = folder / f"{name}.part"
    with open(partial, "wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, final)
    return final


class PullResource(dg.ConfigurableResource):
    """Base class of the pull resources (one per source API).

    Subclasses set :attr:`source` and implement :meth:`pull`. Use :meth:`client` to get the
    HTTP client: it is created once per run (per resource instance) for each tenant and entity,
    uses their process-wide circuit breaker, and collects dead letters and request counters that
    the ingestion asset reads with :meth:`take_dead_letters` and :meth:`http_stats`. The entity
    is the one of the enclosing :meth:`entity_scope` (the ingestion asset opens one around each
    pull), so breakers and counters are per (source, tenant, entity) (issue #13 §5).

    Attributes:
        base_url: API base URL; empty disables pulling (the asset lands drop files only).
            ``{tenant}`` is replaced by the tenant id (one endpoint per tenant).
        tenants: comma-separated tenant ids to pull.
        timeout_s: per-request timeout, seconds.
        max_attempts: requests per call at most (first try + retries).
        backoff_initial_s / backoff_max_s: exponential back-off bounds, seconds.
        retry_after_max_s: longest ``Retry-After`` honoured, seconds.
        breaker_failure_threshold / breaker_cooldown_s: circuit breaker (003 §7.3: 5, 60 s).
        page_size: records per page where the API pages.
        username / password: basic auth (EnvVar).
        token_url / client_id / client_secret: OAuth2 client-credentials bearer token (EnvVar).
    """

    base_url: str = ""
    tenants: str = ""
    timeout_s: float = 10.0
    max_attempts: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 120.0
    breaker_failure_threshold: int = 5
    breaker_cooldown_s: float = 60.0
    page_size: int = 100
    username: str = ""
    password: str = ""
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""

    _clients: dict[tuple[str, str | None], SourceHttpClient] = PrivateAttr(default_factory=dict)
    _dead_letters: list[DeadLetter] = PrivateAttr(default_factory=list)
    _entity: str | None = PrivateAttr(default=None)

    # -- what subclasses provide --------------------------------------------------------------
    @property
    def source(self) -> str:
        """Source system name (``hr``, ``wms`` …); names the breaker and dead letters."""
        raise NotImplementedError

    def pull(
        self,
        *,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        """Fetch ``tenant_id``'s records of ``entity`` after ``cursor`` and write drop files.

        Raises:
            SourceRequestError, CircuitOpenError: a request failed for good (files written
                before the failure stay and are landed; the cursor is not advanced).
            SourceProtocolError: an answer the connector cannot use (same consequences).
        """
        raise NotImplementedError

    # -- shared machinery ---------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """True when a base URL is configured (else the asset lands drop files only)."""
        return bool(self.base_url.strip())

    def tenant_ids(self) -> list[str]:
        """The configured tenants, in order.

        Raises:
            ValueError: none configured, or several tenants sharing one URL without
                ``{tenant}`` (they would all receive the same records).
        """
        tenants = [t.strip() for t in self.tenants.split(",") if t.strip()]
        if not tenants:
            raise ValueError(f"{self.source}: pull enabled but no tenants configured")
        if len(tenants) > 1 and TENANT_PLACEHOLDER not in self.base_url:
            raise ValueError(
                f"{self.source}: {len(tenants)} tenants share one base URL; put "
                f"{TENANT_PLACEHOLDER} in the URL so each tenant is pulled from its own endpoint"
            )
        return tenants

    def base_url_for(self, tenant_id: str) -> str:
        """The base URL of one tenant's endpoint."""
        return self.base_url.replace(TENANT_PLACEHOLDER, tenant_id)

    def auth(self) -> BasicAuth | BearerTokenAuth | None:
        """Bearer-token auth if a token URL is set, else basic auth if a user is set, else None."""
        if self.token_url:
            return BearerTokenAuth(self.token_url, self.client_id, self.client_secret)
        if self.username:
            return BasicAuth(self.username, self.password)
        return None

    @contextmanager
    def entity_scope(self, entity: str) -> Iterator[None]:
        """Within it, :meth:`client`, :meth:`breaker` and :meth:`http_stats` are ``entity``'s
        (outside any scope: the tenant's calls of no particular entity)."""
        outer, self._entity = self._entity, entity
        try:
            yield
        finally:
            self._entity = outer

    def client(self, tenant_id: str) -> SourceHttpClient:
        """The HTTP client of ``tenant_id``'s endpoint and the current entity
        (:meth:`entity_scope`) for this run, created on first use.

        Relative paths passed to ``get_json`` join :meth:`base_url_for` of the tenant. The
        client uses the process-wide circuit breaker of the tenant and entity (:meth:`breaker`)
        and appends to the resource's dead letters."""
        key = (tenant_id, self._entity)
        if key not in self._clients:
            self._clients[key] = SourceHttpClient(
                self.source,
                self.base_url_for(tenant_id),
                auth=self.auth(),
                timeout_s=self.timeout_s,
                max_attempts=self.max_attempts,
                backoff_initial_s=self.backoff_initial_s,
                backoff_max_s=self.backoff_max_s,
                retry_after_max_s=self.retry_after_max_s,
                breaker=self.breaker(tenant_id),
                dead_letters=self._dead_letters,
            )
        return self._clients[key]

    def breaker(self, tenant_id: str) -> CircuitBreaker:
        """The process-wide circuit breaker of this source, ``tenant_id`` and the current entity
        (:meth:`entity_scope`): one tenant's failing endpoint, or one failing entity, opens its
        own breaker only."""
        return breaker_for(
            self.source,
            self.breaker_failure_threshold,
            self.breaker_cooldown_s,
            tenant_id,
            self._entity,
        )

    def take_dead_letters(self) -> list[DeadLetter]:
        """Dead letters recorded since the last call (removed from the resource)."""
        letters = list(self._dead_letters)
        self._dead_letters.clear()
        return letters

    def http_stats(self, tenant_id: str) -> dict[str, Any]:
        """The counters of ``tenant_id``'s client for the current entity
        (:meth:`SourceHttpClient.stats`); zeros and the breaker's state when no request was
        made."""
        if (tenant_id, self._entity) in self._clients:
            return self._clients[(tenant_id, self._entity)].stats()
        breaker = self.breaker(tenant_id).snapshot()
        return {
            "requests": 0,
            "retries": 0,
            "token_refreshes": 0,
            "dead_letters": 0,
            "failures": {},
            "breaker_state": breaker["state"],
            "breaker_consecutive_failures": breaker["consecutive_failures"],
            "breaker_total_failures": breaker["total_failures"],
        }


# -- audit tables -------------------------------------------------------------------------------
def read_cursor(
    con: duckdb.DuckDBPyConnection, source: str, entity: str, tenant_id: str
) -> str | None:
    """The stored cursor of (source, entity, tenant), or None before the first landed pull."""
    rows = run(
        con,
        "select cursor from audit.connector_state where source = ? and entity = ? "
        "and tenant_id = ?",
        [source, entity, tenant_id],
    )
    return rows[0][0] if rows else None


def advance_cursor(
    con: duckdb.DuckDBPyConnection,
    source: str,
    entity: str,
    tenant_id: str,
    cursor: str | None,
    run_id: str,
) -> None:
    """Store ``cursor`` (call only after the pulled files have landed). None keeps the old one."""
    if cursor is None:
        return
    # One row per (source, entity, tenant): DuckLake has no primary key to upsert on.
    run(
        con,
        "delete from audit.connector_state where source = ? and entity = ? and tenant_id = ?",
        [source, entity, tenant_id],
    )
    run(
        con,
        "insert into audit.connector_state values (?, ?, ?, ?, ?, ?)",
        [source, entity, tenant_id, cursor, _utc_now(), run_id],
    )


def record_dead_letters(
    con: duckdb.DuckDBPyConnection,
    letters: Iterable[DeadLetter],
    *,
    entity: str,
    tenant_id: str,
    run_id: str,
) -> int:
    """Append dead letters to ``audit.dead_letters``; returns how many."""
    rows = [
        [
            letter.source,
            entity,
            tenant_id,
            letter.url,
            json.dumps(letter.params, sort_keys=True, default=str),
            letter.status,
            letter.error_class,
            letter.error,
            letter.body_excerpt,
            letter.attempts,
            letter.at.astimezone(UTC).replace(tzinfo=None),
            run_id,
        ]
        for letter in letters
    ]
    for row in rows:
        run(con, "insert into audit.dead_letters values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    return len(rows)


@dataclass
class ConnectorRun:
    """One pull of one tenant's entity, as recorded in ``audit.connector_runs``.

    ``status`` is ``landed`` (pulled and landed, cursor advanced), ``pull_failed`` (a request
    failed for good, the breaker was open or the answer broke the source's protocol) or
    ``landing_failed``.
    """

    source: str
    entity: str
    tenant_id: str
    run_id: str
    started_at: datetime
    status: str
    cursor_before: str | None = None
    cursor_after: str | None = None
    files_written: int = 0
    requests: int = 0
    retries: int = 0
    dead_letters: int = 0
    breaker_state: str = "closed"
    breaker_consecutive_failures: int = 0
    error: str | None = None
    finished_at: datetime | None = None


def record_connector_run(con: duckdb.DuckDBPyConnection, item: ConnectorRun) -> None:
    """Append one row to ``audit.connector_runs``."""
    run(
        con,
        "insert into audit.connector_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            item.source,
            item.entity,
            item.tenant_id,
            item.run_id,
            item.started_at,
            item.finished_at or _utc_now(),
            item.status,
            item.cursor_before,
            item.cursor_after,
            item.files_written,
            item.requests,
            item.retries,
            item.dead_letters,
            item.breaker_state,
            item.breaker_consecutive_failures,
            item.error,
        ],
    )


def record_snapshot(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    entity: str,
    tenant_id: str,
    keys: Iterable[str],
    run_id: str,
) -> str:
    """Record the keys of one complete full pull in ``audit.pull_snapshots``; returns its id."""
    at = _utc_now()
    snapshot_id = f"{source}__{entity}-{tenant_id}-{at:%Y%m%dT%H%M%S%f}"
    run(
        con,
        "insert into audit.pull_snapshots select ?, ?, ?, ?, unnest(?::varchar[]), ?, ?",
        [snapshot_id, source, entity, tenant_id, sorted(set(keys)), at, run_id],
    )
    return snapshot_id


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


__all__ = [
    "ConnectorRun",
    "PullBatch",
    "PullResource",
    "advance_cursor",
    "content_digest",
    "latest_timestamp",
    "pull_env_config",
    "read_cursor",
    "record_connector_run",
    "record_dead_letters",
    "record_snapshot",
    "write_pull_document",
    "write_pull_file",
]
