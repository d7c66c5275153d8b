"""WMS REST pull: stock levels by location (003 §6.2.1) and the CDC event stream (003 §6.3).

Endpoints (relative to the tenant's base URL, ``$TRACELOOM_WMS_API_URL``):

- ``GET materials/stock-levels[?location=Plant1]`` → ``{"materials": [...]}`` (the seed's
  response), one request per configured location (``$TRACELOOM_WMS_API_LOCATIONS``, comma
  list; none: one request for all locations).
- ``GET materials/stock-events?since=<timestamp>&after=<transaction_id>&limit=<n>`` →
  ``{"events": [...], "has_more": bool}``: ``material.stock_updated`` events after the
  high-water mark ``(timestamp, transaction_id)``, ordered by timestamp then transaction id.

The events cursor is that high-water mark as JSON (``{"timestamp": …, "transaction_id": …}``) of
the last event pulled; it is stored only after the events landed, so a failed run re-pulls them
(exact re-deliveries are duplicates at landing). Files are named by their content window —
stock levels by location and content digest, events by the first and last event of the page
and its digest — so a re-pull of an unchanged window rewrites the same file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from traceloom_pipelines.integration.http import SourceProtocolError
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
        page_size: events per page of the stock-events endpoint.
    """

    locations: str = ""

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
            SourceRequestError, CircuitOpenError: a request failed for good.
            WmsPullError: an answer without its record list, events at or before the
                high-water mark, or a page whose last event has no ``timestamp`` and
                ``transaction_id`` to page on (pages written before stay and land; the cursor
                is not advanced).
            ValueError: any other entity.
        """
        if entity.entity == "stock_levels":
            return self._pull_stock_levels(entity, landing_root, tenant_id, log)
        if entity.entity == "stock_events":
            return self._pull_events(entity, landing_root, tenant_id, cursor, log)
        raise ValueError(f"the WMS API does not serve {entity.entity}")

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
        client = self.client(tenant_id)
        mark = json.loads(cursor) if cursor else None
        files: list[Path] = []
        records_total = 0
        for _page in range(MAX_PAGES):
            params: dict[str, object] = {"limit": self.page_size}
            if mark:
                params.update(since=mark["timestamp"], after=mark["transaction_id"])
            body = client.get_json("materials/stock-events", params)
            events = body.get("events") if isinstance(body, dict) else None
            if not isinstance(events, list):
                raise WmsPullError("wms stock-events: no 'events' list in the answer")
            if not events:
                break
            # The server sends events in apply order; the last one is the new high-water mark.
            # An event whose timestamp does not parse still lands (and is quarantined there).
            ordered = events
            if mark and _at_or_before_mark(ordered[0], mark):
                raise WmsPullError(
                    "wms stock-events: the server returned events at or before the high-water mark"
                )
            first, last = ordered[0], ordered[-1]
            if not (isinstance(last, dict) and "timestamp" in last and "transaction_id" in last):
                raise WmsPullError(
                    "wms stock-events: the last event of a page has no timestamp and "
                    "transaction_id, so there is no high-water mark to page on"
                )
            stamp = _slug(str(first.get("timestamp") if isinstance(first, dict) else None))
            digest = content_digest(record_line(e) for e in ordered)
            name = f"stock_events_{stamp}_{_slug(str(last['transaction_id']))}_{digest}.jsonl"
            files.append(write_pull_file(landing_root, tenant_id, entity, name, ordered))
            records_total += len(ordered)
            mark = {"timestamp": last["timestamp"], "transaction_id": last["transaction_id"]}
            if not body.get("has_more", len(events) >= self.page_size):
                break
        log(f"wms/stock_events [{tenant_id}]: {records_total} events in {len(files)} file(s)")
        return PullBatch(
            files=files,
            next_cursor=json.dumps(mark, sort_keys=True) if mark else None,
            metadata={"records": records_total, "pages": len(files)},
        )


def wms_api_from_env() -> WmsApiResource:
    """The WMS pull resource configured from ``TRACELOOM_WMS_API_*`` (disabled when the URL is
    unset; ``TRACELOOM_WMS_API_LOCATIONS`` lists the locations to pull)."""
    overrides = {}
    if os.environ.get(f"{ENV_PREFIX}_LOCATIONS"):
        overrides["locations"] = os.environ[f"{ENV_PREFIX}_LOCATIONS"]
    return WmsApiResource(**pull_env_config(ENV_PREFIX, **overrides))
