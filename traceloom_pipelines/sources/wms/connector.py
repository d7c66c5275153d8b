"""WMS REST pull: stock levels by location (003 §6.2.1) and the CDC event stream (003 §6.3).

Endpoints (relative to the tenant's base URL, ``$TRACELOOM_WMS_API_URL``):

- ``GET materials/stock-levels[?location=Plant1]`` → ``{"materials": [...]}`` (the seed's
  response), one request per configured location (``$TRACELOOM_WMS_API_LOCATIONS``, comma
  list; none: one request for all locations).
- the change feed of ``material.stock_updated`` events (003 §6.3's CDC event), at
  ``$TRACELOOM_WMS_API_EVENTS_PATH`` (default ``materials/stock-events``), in one of two
  protocols (``$TRACELOOM_WMS_API_EVENTS_PROTOCOL``):

  - ``mark`` (default): ``GET <path>?since=<timestamp>&after=<transaction_id>&limit=<n>`` →
    ``{"events": [...], "has_more": bool}``: the events after the high-water mark
    ``(timestamp, transaction_id)``, ordered by timestamp then transaction id. The cursor is
    that mark as JSON (``{"timestamp": …, "transaction_id": …}``) of the last event pulled.
  - ``cursor``: ``GET <path>?limit=<n>[&<cursor param>=<cursor>]`` →
    ``{"events": [...], "<cursor key>": "<opaque>", "has_more": bool}``: the server names the
    position to resume from (``next_cursor`` and ``cursor`` by default,
    ``$TRACELOOM_WMS_API_EVENTS_CURSOR_KEY`` / ``_EVENTS_CURSOR_PARAM``); the first pull sends
    none. Pages are read until one comes empty, ``has_more`` is false or no cursor comes; the
    last cursor received is stored exactly as the server sent it.

  The member holding the events is ``events`` (``$TRACELOOM_WMS_API_EVENTS_KEY``).

The cursor is stored only after the events landed, so a failed run re-pulls them (exact
re-deliveries are duplicates at landing). A feed at another path answers 404: a failed request
(class ``client_error``, dead-lettered), recorded as that tenant's failed pull, not a failed step.
Files are named by their content window — stock levels by location and content digest, events
by the first and last event of the page and its digest — so a re-pull of an unchanged window
rewrites the same file.

Seed 003 §6.3 names Kafka as the transport of these CDC events; this connector reads them over
HTTP only (a Kafka consumer is not built: no broker can be installed where this is tested).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from traceloom_pipelines.integration.http import SourceHttpClient, SourceProtocolError
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.pull import (
    PullBatch,
    PullResource,
    content_digest,
    pull_env_config,
    record_line,
    write_pull_file,
)

ENV_PREFIX = "TRACELOOM_WMS_API"
RESOURCE_KEY = "wms_api"
MAX_PAGES = 100_000
DEFAULT_EVENTS_PATH = "materials/stock-events"
EVENTS_PROTOCOLS = ("mark", "cursor")
# Settings read from ``TRACELOOM_WMS_API_<suffix>`` besides pull_env_config's (all text).
EXTRA_ENV_FIELDS = {
    "LOCATIONS": "locations",
    "EVENTS_PATH": "events_path",
    "EVENTS_PROTOCOL": "events_protocol",
    "EVENTS_KEY": "events_key",
    "EVENTS_CURSOR_KEY": "events_cursor_key",
    "EVENTS_CURSOR_PARAM": "events_cursor_param",
}


class WmsPullError(SourceProtocolError):
    """The WMS API answered with a shape the connector cannot use (no retry helps).

    A :class:`~traceloom_pipelines.integration.http.SourceProtocolError` (failure class
    ``protocol``): the ingestion asset records the tenant's pull as failed, not the step.
    """


def parse_event_time(value: str) -> datetime:
    """An ISO-8601 event timestamp (``Z`` or offset) as an aware datetime.

    Raises:
        ValueError: not an ISO-8601 timestamp with a zone.
    """
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {value!r}")
    return parsed


def event_order_key(event: dict) -> tuple[datetime, str]:
    """The order events are applied in (003 §6.3): timestamp, then transaction id."""
    return parse_event_time(str(event["timestamp"])), str(event["transaction_id"])


def _at_or_before_mark(event: dict, mark: dict) -> bool:
    try:
        return event_order_key(event) <= (
            parse_event_time(mark["timestamp"]),
            str(mark["transaction_id"]),
        )
    except (KeyError, TypeError, ValueError):
        return False


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "all"


class WmsApiResource(PullResource):
    """Pulls WMS stock levels and CDC stock events for each tenant.

    Attributes (besides :class:`~traceloom_pipelines.landing.pull.PullResource`'s):
        locations: comma-separated ``location`` values (``Plant1,Plant2``); empty: all at once.
        page_size: events per page of the change feed (``limit``).
        events_path: path of the change feed under the tenant's base URL
            (``materials/stock-events``).
        events_protocol: ``mark`` (``since``/``after`` from the last event's timestamp and
            transaction id; the default) or ``cursor`` (an opaque cursor named by the server).
        events_key: the answer's member holding the events (``events``).
        events_cursor_key: ``cursor`` protocol: the answer's member naming the cursor to send
            back (``next_cursor``).
        events_cursor_param: ``cursor`` protocol: the query parameter the cursor goes back in
            (``cursor``).
    """

    locations: str = ""
    events_path: str = DEFAULT_EVENTS_PATH
    events_protocol: str = "mark"
    events_key: str = "events"
    events_cursor_key: str = "next_cursor"
    events_cursor_param: str = "cursor"

    @property
    def source(self) -> str:
        return "wms"

    def pull(
        self,
        *,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        """Pull ``stock_levels`` or ``stock_events`` of one tenant (see module docstring).

        Raises:
            SourceRequestError, CircuitOpenError: a request failed for good (a feed path
                that does not exist: 404, class ``client_error``).
            WmsPullError: an answer without its record list; ``mark`` protocol: events at or
                before the high-water mark, or a page whose last event has no ``timestamp``
                and ``transaction_id`` to page on; ``cursor`` protocol: a page of events
                without a cursor to resume from, a cursor that is not text, or one that
                repeats (pages written before stay and land; the cursor is not advanced).
            ValueError: any other entity, an unknown :attr:`events_protocol`, an empty
                :attr:`events_path` or key, or a stored cursor of the other protocol.
        """
        if entity.entity == "stock_levels":
            return self._pull_stock_levels(entity, landing_root, tenant_id, log)
        if entity.entity == "stock_events":
            self.check_events_settings()
            if self.events_protocol == "cursor":
                return self._pull_events_by_cursor(entity, landing_root, tenant_id, cursor, log)
            return self._pull_events(entity, landing_root, tenant_id, cursor, log)
        raise ValueError(f"the WMS API does not serve {entity.entity}")

    def check_events_settings(self) -> None:
        """Check the change-feed settings (configuration errors fail the step).

        Raises:
            ValueError: :attr:`events_protocol` is neither ``mark`` nor ``cursor``, or
                :attr:`events_path`, :attr:`events_key` or (``cursor`` protocol) the cursor
                key or parameter is empty.
        """
        if self.events_protocol not in EVENTS_PROTOCOLS:
            raise ValueError(
                f"wms: events_protocol ({ENV_PREFIX}_EVENTS_PROTOCOL) must be one of "
                f"{', '.join(EVENTS_PROTOCOLS)}, got {self.events_protocol!r}"
            )
        names = {"events_path": self.events_path.strip("/ "), "events_key": self.events_key}
        if self.events_protocol == "cursor":
            names.update(
                events_cursor_key=self.events_cursor_key,
                events_cursor_param=self.events_cursor_param,
            )
        for name, value in names.items():
            if not value.strip():
                raise ValueError(f"wms: {name} ({ENV_PREFIX}_{name.upper()}) must not be empty")

    def _events_page(
        self, client: SourceHttpClient, params: dict[str, object]
    ) -> tuple[dict, list]:
        """One answer of the change feed and its events.

        Raises:
            WmsPullError: the answer is not an object with a list under :attr:`events_key`.
        """
        body = client.get_json(self.events_path.strip("/"), params)
        events = body.get(self.events_key) if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise WmsPullError(f"wms stock-events: no {self.events_key!r} list in the answer")
        return body, events

    def _pull_stock_levels(
        self, entity: SourceEntity, landing_root: Path, tenant_id: str, log: Callable[[str], None]
    ) -> PullBatch:
        client = self.client(tenant_id)
        locations = [loc.strip() for loc in self.locations.split(",") if loc.strip()] or [None]
        files: list[Path] = []
        records_total = 0
        for location in locations:
            body = client.get_json(
                "materials/stock-levels", {"location": location} if location else None
            )
            records = body.get("materials") if isinstance(body, dict) else None
            if not isinstance(records, list):
                raise WmsPullError(f"wms stock-levels {location or 'all'}: no 'materials' list")
            if not records:
                continue
            digest = content_digest(record_line(r) for r in records)
            name = f"stock_levels_{_slug(location or 'all')}_{digest}.jsonl"
            files.append(write_pull_file(landing_root, tenant_id, entity, name, records))
            records_total += len(records)
        log(f"wms/stock_levels [{tenant_id}]: {records_total} positions, {len(files)} file(s)")
        return PullBatch(
            files=files,
            next_cursor=None,  # snapshots: no cursor
            metadata={"locations": len(locations), "records": records_total},
        )

    def _pull_events(
        self,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        if cursor and not _is_mark(cursor):
            raise ValueError(
                f"wms stock-events [{tenant_id}]: the stored cursor is not a high-water mark of "
                "the 'mark' protocol (a server cursor?); clear it (audit.connector_state) before "
                "switching to 'mark'"
            )
        client = self.client(tenant_id)
        mark = json.loads(cursor) if cursor else None
        files: list[Path] = []
        records_total = 0
        for _page in range(MAX_PAGES):
            params: dict[str, object] = {"limit": self.page_size}
            if mark:
                params.update(since=mark["timestamp"], after=mark["transaction_id"])
            body, events = self._events_page(client, params)
            if not events:
                break
            # The server sends events in apply order; the last one is the new high-water mark.
            # An event whose timestamp does not parse still lands (and is quarantined there).
            ordered = events
            if mark and _at_or_before_mark(ordered[0], mark):
                raise WmsPullError(
                    "wms stock-events: the server returned events at or before the high-water mark"
                )
            last = ordered[-1]
            if not (isinstance(last, dict) and "timestamp" in last and "transaction_id" in last):
                raise WmsPullError(
                    "wms stock-events: the last event of a page has no timestamp and "
                    "transaction_id, so there is no high-water mark to page on"
                )
            files.append(_write_events(landing_root, tenant_id, entity, ordered))
            records_total += len(ordered)
            mark = {"timestamp": last["timestamp"], "transaction_id": last["transaction_id"]}
            if not body.get("has_more", len(events) >= self.page_size):
                break
        log(f"wms/stock_events [{tenant_id}]: {records_total} events in {len(files)} file(s)")
        return PullBatch(
            files=files,
            next_cursor=json.dumps(mark, sort_keys=True) if mark else None,
            metadata={"records": records_total, "pages": len(files), "protocol": "mark"},
        )

    def _pull_events_by_cursor(
        self,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        """The ``cursor`` protocol: send back the server's opaque cursor until caught up.

        The stored cursor is the last one the server sent, kept as given (never parsed). A
        page ends the pull when it is empty, says ``has_more: false`` or names no cursor; a
        page of events must name one (else nothing could resume after it).
        """
        if cursor and _is_mark(cursor):
            raise ValueError(
                f"wms stock-events [{tenant_id}]: the stored cursor is a high-water mark of the "
                "'mark' protocol; clear it (audit.connector_state) before switching to 'cursor'"
            )
        client = self.client(tenant_id)
        token = cursor or None
        files: list[Path] = []
        records_total = 0
        for _page in range(MAX_PAGES):
            params: dict[str, object] = {"limit": self.page_size}
            if token:
                params[self.events_cursor_param] = token
            body, events = self._events_page(client, params)
            following = body.get(self.events_cursor_key)
            if following is not None and (not isinstance(following, str) or not following):
                raise WmsPullError(
                    f"wms stock-events: {self.events_cursor_key!r} is not a non-empty text: "
                    f"{str(following)[:80]!r}"
                )
            if events and following is None:
                raise WmsPullError(
                    f"wms stock-events: a page of events without {self.events_cursor_key!r}, "
                    "so there is no cursor to resume from"
                )
            if events and following == token:
                raise WmsPullError(
                    f"wms stock-events: {self.events_cursor_key!r} repeats the cursor sent, "
                    "the same page would come again"
                )
            if events:
                files.append(_write_events(landing_root, tenant_id, entity, events))
                records_total += len(events)
            if following is not None:
                token = following
            if not events or following is None or body.get("has_more") is False:
                break
        else:
            raise WmsPullError(f"wms stock-events: more than {MAX_PAGES} pages, giving up")
        log(
            f"wms/stock_events [{tenant_id}]: {records_total} events in {len(files)} file(s) "
            "(server cursor)"
        )
        return PullBatch(
            files=files,
            next_cursor=token,
            metadata={"records": records_total, "pages": len(files), "protocol": "cursor"},
        )


def _is_mark(cursor: str) -> bool:
    """True when ``cursor`` is the ``mark`` protocol's JSON high-water mark."""
    try:
        value = json.loads(cursor)
    except ValueError:
        return False
    return isinstance(value, dict) and {"timestamp", "transaction_id"} <= value.keys()


def _write_events(landing_root: Path, tenant_id: str, entity: SourceEntity, events: list) -> Path:
    """One page of events as a drop file named by its first timestamp, last transaction id and
    content digest (``stock_events_<ts>_<txn>_<digest>.jsonl``; missing parts: ``none``)."""
    first, last = events[0], events[-1]
    stamp = _slug(str(first.get("timestamp") if isinstance(first, dict) else None))
    txn = _slug(str(last.get("transaction_id") if isinstance(last, dict) else None))
    digest = content_digest(record_line(e) for e in events)
    return write_pull_file(
        landing_root, tenant_id, entity, f"stock_events_{stamp}_{txn}_{digest}.jsonl", events
    )


def wms_api_from_env() -> WmsApiResource:
    """The WMS pull resource configured from ``TRACELOOM_WMS_API_*`` (disabled when the URL is
    unset): ``_LOCATIONS`` lists the locations to pull; ``_EVENTS_PATH``, ``_EVENTS_PROTOCOL``
    (``mark``/``cursor``), ``_EVENTS_KEY``, ``_EVENTS_CURSOR_KEY`` and ``_EVENTS_CURSOR_PARAM``
    set the change feed (see :class:`WmsApiResource`; unset: the defaults). The values are
    checked when the events are pulled (:meth:`WmsApiResource.check_events_settings`)."""
    overrides = {}
    for suffix, name in EXTRA_ENV_FIELDS.items():
        value = os.environ.get(f"{ENV_PREFIX}_{suffix}", "").strip()
        if value:
            overrides[name] = value.lower() if name == "events_protocol" else value
    return WmsApiResource(**pull_env_config(ENV_PREFIX, **overrides))
