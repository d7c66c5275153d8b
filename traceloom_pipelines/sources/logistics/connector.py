"""How carriers' DCSA Track & Trace events arrive: the drop-file reader, and the cursor-paged pull.

DCSA Track & Trace v2 (``GET /v2/events``) answers with a JSON array of events (one *page*); when
more events are waiting, the response carries a ``Next-Page-Cursor`` header whose value is passed
back as the ``cursor`` query parameter to get the next page. Pages are written to the drop folder
(``landing/<tenant>/logistics/dcsa_events/``) and landed like any drop.

:class:`DcsaEventsResource` (``TRACELOOM_DCSA_*``) is the pull resource of the
``raw/logistics/dcsa_events`` ingestion asset: per tenant, incremental by the DCSA filter
``eventCreatedDateTime:gte`` from the stored cursor (the latest ``eventCreatedDateTime`` landed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from traceloom_pipelines.integration.http import SourceHttpClient
from traceloom_pipelines.landing.drops import write_drop_file
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.pull import (
    PullBatch,
    PullResource,
    latest_timestamp,
    pull_env_config,
)

SYSTEM = "logistics"
DCSA_ENTITY = "dcsa_events"
EVENTS_PATH = "/v2/events"
NEXT_PAGE_CURSOR = "Next-Page-Cursor"
# Aggregators that proxy DCSA sometimes wrap the page: {"events": [...]}.
_PAGE_ENVELOPE = "events"


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _events_of(document: object) -> list[object] | None:
    """The events of one parsed page: an array, a ``{"events": [...]}`` wrapper or one event."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and isinstance(document.get(_PAGE_ENVELOPE), list):
        return document[_PAGE_ENVELOPE]
    return None


def iter_dcsa_event_records(path: Path) -> Iterator[tuple[int, str]]:
    """Records of one DCSA drop file: ``(1-based ordinal, event JSON text)``, one per event.

    Accepted shapes (000 §2.4 "as carriers send them"):

    - ``*.json``: one page — a JSON array of events (the DCSA response body), a page wrapped as
      ``{"events": [...]}``, or a single event object;
    - ``*.jsonl``: one event per line (what :func:`pull_dcsa_events` writes), or one page (array)
      per line.

    An event is passed on as the carrier sent it (extra fields kept; the contract checks it).
    Nothing is dropped: a file or line that is not JSON is yielded as its raw text (quarantined as
    ``_record:valid_json``); an array element that is not an object is yielded as its JSON text
    (quarantined by the contract's required fields). Ordinals count events over the whole file.
    """
    ordinal = 0
    if path.suffix.lower() == ".jsonl":
        with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
            for line in handle:
                text = line.strip()
                if not text:
                    continue
                try:
                    document = json.loads(text)
                except json.JSONDecodeError:
                    ordinal += 1
                    yield ordinal, text
                    continue
                events = _events_of(document)
                if events is None:
                    ordinal += 1
                    yield ordinal, text
                    continue
                for event in events:
                    ordinal += 1
                    yield ordinal, _dumps(event)
        return
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        yield 1, text
        return
    events = _events_of(document)
    for event in [document] if events is None else events:
        ordinal += 1
        yield ordinal, _dumps(event)


def pull_dcsa_events(
    client: SourceHttpClient,
    landing_root: Path,
    tenant_id: str,
    carrier: str,
    *,
    params: dict[str, Any] | None = None,
    limit: int = 100,
    max_pages: int = 10_000,
    now: datetime | None = None,
) -> list[Path]:
    """Pull every waiting DCSA event page from ``client``'s carrier API into the drop folder.

    Sends ``GET /v2/events?limit=…&<params>``; while the answer carries a ``Next-Page-Cursor``
    header, sends ``GET /v2/events?limit=…&cursor=<value>`` for the next page (DCSA: the cursor
    replaces the other filters). Each non-empty page is written atomically
    (:func:`~traceloom_pipelines.landing.drops.write_drop_file`) into
    ``landing_root/<tenant_id>/logistics/dcsa_events/`` as
    ``dcsa_<carrier>_<UTC yyyymmddThhmmss>_p<nnnn>.jsonl``, one event per line, as the carrier
    sent it. A body that is not a page (not an array, nor
    ``{"events": [...]}``) is written as one record and quarantined by the contract, not lost.
    Retries, throttling, token refresh and dead letters are the client's (003 §7.1–§7.3).

    Returns:
        The drop files written, in page order (none when the first page is empty).

    Raises:
        SourceRequestError / CircuitOpenError: a page request failed for good (pages already
            written stay; the next pull starts again from the filters).
        RuntimeError: the carrier repeats a cursor, or more than ``max_pages`` pages.
    """
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    cursors: list[str | None] = []

    def remember_cursor(response, *_args, **_kwargs):
        cursors.append(response.headers.get(NEXT_PAGE_CURSOR))

    hooks = client.session.hooks.setdefault("response", [])
    hooks.append(remember_cursor)
    written: list[Path] = []
    seen: set[str] = set()
    query: dict[str, Any] = {"limit": limit, **(params or {})}
    try:
        for page_no in range(1, max_pages + 1):
            cursors.clear()
            body = client.get_json(EVENTS_PATH, query)
            cursor = cursors[-1] if cursors else None  # the answer get_json accepted
            events = _events_of(body)
            records = [body] if events is None else events
            if records:
                name = f"dcsa_{carrier}_{stamp}_p{page_no:04d}.jsonl"
                lines = (_dumps(event) for event in records)
                written.append(
                    write_drop_file(landing_root, tenant_id, SYSTEM, DCSA_ENTITY, name, lines)
                )
            if not cursor:
                return written
            if cursor in seen:
                raise RuntimeError(f"{carrier}: DCSA API repeated page cursor {cursor!r}")
            seen.add(cursor)
            query = {"limit": limit, "cursor": cursor}
        raise RuntimeError(f"{carrier}: more than {max_pages} DCSA pages in one pull")
    finally:
        hooks.remove(remember_cursor)


# -- pull resource: the scheduled, incremental pull of the dcsa_events asset -------------------

ENV_PREFIX = "TRACELOOM_DCSA"
RESOURCE_KEY = "dcsa_api"
# DCSA T&T v2 filter: events created at or after this instant (ISO-8601 with offset).
CREATED_SINCE = "eventCreatedDateTime:gte"


def latest_event_created(files: list[Path], current: str | None = None) -> str | None:
    """The latest ``eventCreatedDateTime`` among the events in ``files`` (read as they land,
    :func:`iter_dcsa_event_records`) and ``current``, as the carrier wrote it; None if none."""

    def created() -> Iterator[object]:
        for path in files:
            for _ordinal, text in iter_dcsa_event_records(path):
                try:
                    event = json.loads(text)
                except json.JSONDecodeError:
                    continue
                if isinstance(event, dict):
                    yield event.get("eventCreatedDateTime")

    return latest_timestamp(created(), current)


class DcsaEventsResource(PullResource):
    """Pulls a carrier's DCSA Track & Trace events (000 §2.4) for each tenant.

    ``base_url`` (``TRACELOOM_DCSA_URL``) is the carrier API root; ``{tenant}`` in it is
    replaced by the tenant id. A pull is ``GET <base>/v2/events?limit=<page_size>``
    [``&eventType=<event_types>``][``&eventCreatedDateTime:gte=<cursor>``], then the
    ``Next-Page-Cursor`` pages (:func:`pull_dcsa_events`; one JSONL drop file per page).
    The cursor stored after landing is the latest ``eventCreatedDateTime`` pulled (the old one
    when nothing new came). ``:gte`` re-sends the events of that very instant; they are exact
    duplicates and the landing's md5 dedupe skips them, so nothing lands twice.

    Attributes (besides :class:`~traceloom_pipelines.landing.pull.PullResource`'s):
        carrier: carrier code used in file names (``TRACELOOM_DCSA_CARRIER``, e.g. ``MAEU``).
        event_types: DCSA ``eventType`` filter, e.g. ``EQUIPMENT,TRANSPORT``; empty: all.
    """

    carrier: str = "dcsa"
    event_types: str = ""

    @property
    def source(self) -> str:
        return "dcsa"

    def pull(
        self,
        *,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        """Pull ``tenant_id``'s events created at or after ``cursor`` (all when None).

        Raises:
            ValueError: an entity other than ``dcsa_events``.
            SourceRequestError, CircuitOpenError: a page request failed for good.
            RuntimeError: the carrier repeated a page cursor.
        """
        if entity.entity != DCSA_ENTITY:
            raise ValueError(f"the DCSA API does not serve {entity.entity}")
        params: dict[str, Any] = {}
        if self.event_types:
            params["eventType"] = self.event_types
        if cursor:
            params[CREATED_SINCE] = cursor
        files = pull_dcsa_events(
            self.client(tenant_id),
            landing_root,
            tenant_id,
            self.carrier,
            params=params,
            limit=self.page_size,
        )
        latest = latest_event_created(files, cursor)
        log(
            f"dcsa/{self.carrier} [{tenant_id}]: {len(files)} page(s) since {cursor or 'start'}; "
            f"latest eventCreatedDateTime {latest}"
        )
        return PullBatch(
            files=files,
            next_cursor=latest,
            metadata={"pages": len(files), "since": cursor or "", "latest": latest or ""},
        )


def dcsa_from_env() -> DcsaEventsResource:
    """The DCSA pull resource from ``TRACELOOM_DCSA_*`` (disabled when ``TRACELOOM_DCSA_URL``
    is unset; ``_CARRIER`` and ``_EVENT_TYPES`` are optional)."""
    overrides = {}
    for suffix, name in (("CARRIER", "carrier"), ("EVENT_TYPES", "event_types")):
        if os.environ.get(f"{ENV_PREFIX}_{suffix}"):
            overrides[name] = os.environ[f"{ENV_PREFIX}_{suffix}"]
    return DcsaEventsResource(**pull_env_config(ENV_PREFIX, **overrides))
