"""How carriers' DCSA Track & Trace events arrive: the drop-file reader, and the paged pull.

DCSA Track & Trace v2 (``GET /v2/events``) answers with a JSON array of events (one *page*). When
more events are waiting, the response says where the next page is:

- ``Next-Page: <link>`` (the DCSA standard): a link to the next page, relative
  (``/v2/events?cursor=abc``, resolved against the request URL) or absolute (on the same host);
  it is followed as it is (the cursor in it replaces the other filters);
- ``Next-Page-Cursor: <cursor>`` (older carrier APIs, the fallback when there is no
  ``Next-Page``): a bare cursor, sent back as the ``cursor`` query parameter.

Pages are written to the drop folder (``landing/<tenant>/logistics/dcsa_events/``) and landed
like any drop.

:class:`DcsaEventsResource` (``TRACELOOM_DCSA_*``) is the pull resource of the
``raw/logistics/dcsa_events`` ingestion asset: per tenant, incremental by the DCSA filter
``eventCreatedDateTime:gte`` from the stored cursor (the latest ``eventCreatedDateTime`` landed).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from traceloom_pipelines.integration.http import (
    SourceHttpClient,
    SourceProtocolError,
    redact_url,
)
from traceloom_pipelines.landing.drops import write_drop_file
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.pull import (
    PullBatch,
    PullResource,
    latest_timestamp,
    pull_env_config,
)
from traceloom_pipelines.landing.readers import iter_json_array_elements

SYSTEM = "logistics"
DCSA_ENTITY = "dcsa_events"
EVENTS_PATH = "/v2/events"
NEXT_PAGE = "Next-Page"
NEXT_PAGE_CURSOR = "Next-Page-Cursor"
# Aggregators that proxy DCSA sometimes wrap the page: {"events": [...]}.
_PAGE_ENVELOPE = "events"
# The start of a wrapped page up to its array (to salvage a wrapped page that is cut off).
_WRAPPED_PAGE_START = re.compile(r'[ \t\n\r]*\{[ \t\n\r]*"events"[ \t\n\r]*:[ \t\n\r]*(?=\[)')
# What a reader may do to each event object before it is serialized (the contract's normaliser).
EventNormaliser = Callable[[dict], dict]


class DcsaPullError(SourceProtocolError):
    """A carrier's DCSA API paged in a way the connector cannot follow (no retry helps): it named
    a page already read as the next one, linked to another host, or never stopped paging.

    A :class:`~traceloom_pipelines.integration.http.SourceProtocolError` (failure class
    ``protocol``, a ``RuntimeError``): the ingestion asset records the tenant's pull as failed,
    not the step.
    """


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _events_of(document: object) -> list[object] | None:
    """The events of one parsed page: an array, a ``{"events": [...]}`` wrapper or one event."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and isinstance(document.get(_PAGE_ENVELOPE), list):
        return document[_PAGE_ENVELOPE]
    return None


def _event_text(event: object, normalise: EventNormaliser | None) -> str:
    """One event as record text: an object normalised (when asked), anything else as it is."""
    if normalise is not None and isinstance(event, dict):
        event = normalise(event)
    return _dumps(event)


def iter_dcsa_event_records(
    path: Path, normalise: EventNormaliser | None = None
) -> Iterator[tuple[int, str]]:
    """Records of one DCSA drop file: ``(1-based ordinal, event JSON text)``, one per event.

    Accepted shapes (000 §2.4 "as carriers send them"):

    - ``*.json``: one page — a JSON array of events (the DCSA response body), a page wrapped as
      ``{"events": [...]}``, or a single event object;
    - ``*.jsonl``: one event per line (what :func:`pull_dcsa_events` writes), or one page (array)
      per line.

    An event is passed on as the carrier sent it (extra fields kept; the contract checks it),
    unless ``normalise`` is given: then every event object goes through it first (the contract's
    reader uses this to map carrier spellings to DCSA's, see ``contract.py``).
    Nothing is dropped: a file or line that is not JSON is yielded as its raw text (quarantined as
    ``_record:valid_json``); an array element that is not an object is yielded as its JSON text
    (quarantined by the contract's required fields). Ordinals count events over the whole file.
    A ``.json`` page cut off mid-way (a download that stopped: ``[{…}, {…}, {"eventID": "7``,
    also wrapped as ``{"events": [...``) yields its complete leading events as usual and then
    the rest of the text, from the first incomplete event, as one last record that is not JSON
    (only that tail is quarantined, ``_record:valid_json``), as the shared ``.json`` reader does
    (:func:`~traceloom_pipelines.landing.readers.iter_json_array_elements`; issue #12 §4, "bad
    input loses nothing, good records still land").
    The file is decoded as strict UTF-8 (BOM allowed): bytes that do not decode raise
    :class:`UnicodeDecodeError`, and the loader quarantines the whole file (``_file:encoding``).
    An event nested deeper than Python's recursion limit raises :class:`RecursionError` (the
    loader quarantines the whole file, ``_file:unreadable``).
    """
    ordinal = 0
    if path.suffix.lower() == ".jsonl":
        with path.open("r", encoding="utf-8-sig", errors="strict") as handle:
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
                    yield ordinal, text if normalise is None else _event_text(document, normalise)
                    continue
                for event in events:
                    ordinal += 1
                    yield ordinal, _event_text(event, normalise)
        return
    text = path.read_text(encoding="utf-8-sig", errors="strict")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        wrapped = _WRAPPED_PAGE_START.match(text)
        for parsed, value in iter_json_array_elements(text, wrapped.end() if wrapped else 0):
            ordinal += 1
            yield ordinal, _event_text(value, normalise) if parsed else str(value)
        return
    events = _events_of(document)
    for event in [document] if events is None else events:
        ordinal += 1
        yield ordinal, _event_text(event, normalise)


# -- paging -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRequest:
    """One page request: ``GET url`` with query ``params`` (``url`` absolute)."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def full_url(self) -> str:
        """The URL as sent, query included (built by ``requests``, so that a link and a cursor
        request for the same page compare equal)."""
        return requests.Request("GET", self.url, params=self.params).prepare().url or self.url


def next_page_request(
    answered_url: str, headers: Mapping[str, str], limit: int, events_url: str
) -> PageRequest | None:
    """The request for the page after the answer to ``answered_url`` (None: that was the last).

    - ``Next-Page: <link>``: the link resolved against ``answered_url``
      (:func:`urllib.parse.urljoin`: ``/v2/events?cursor=abc``, ``?cursor=abc`` or an absolute
      URL), followed as it is;
    - otherwise ``Next-Page-Cursor: <cursor>``: ``events_url?limit=<limit>&cursor=<cursor>``.

    ``headers`` is matched case-blind by ``requests``; blank values count as absent.

    Raises:
        DcsaPullError: the ``Next-Page`` link points at another scheme or host (the request would
            carry the carrier's credentials there).
    """
    link = (headers.get(NEXT_PAGE) or "").strip()
    if link:
        url = urljoin(answered_url, link)
        if _origin(url) != _origin(answered_url):
            raise DcsaPullError(
                f"DCSA {NEXT_PAGE} link {redact_url(url)} leaves the carrier API at "
                f"{redact_url(answered_url)}; not followed"
            )
        return PageRequest(url)
    cursor = (headers.get(NEXT_PAGE_CURSOR) or "").strip()
    if cursor:
        return PageRequest(events_url, {"limit": limit, "cursor": cursor})
    return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


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

    Sends ``GET /v2/events?limit=…&<params>``, then follows the answers' ``Next-Page`` links
    (or, without one, their ``Next-Page-Cursor``: ``GET /v2/events?limit=…&cursor=<value>``;
    see :func:`next_page_request`) until an answer names no next page. Each non-empty page is
    written atomically (:func:`~traceloom_pipelines.landing.drops.write_drop_file`) into
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
        DcsaPullError: the carrier names a page already read as the next one (a repeated link
            or cursor), a ``Next-Page`` link on another host, or more than ``max_pages`` pages
            (pages already written stay).
    """
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    answers: list[requests.Response] = []

    def remember_answer(response: requests.Response, *_args, **_kwargs) -> None:
        answers.append(response)

    hooks = client.session.hooks.setdefault("response", [])
    hooks.append(remember_answer)
    events_url = client.url_for(EVENTS_PATH)
    request = PageRequest(events_url, {"limit": limit, **(params or {})})
    written: list[Path] = []
    read: set[str] = set()
    try:
        for page_no in range(1, max_pages + 1):
            read.add(request.full_url)
            answers.clear()
            body = client.get_json(request.url, request.params)
            answer = answers[-1]  # the answer get_json accepted
            events = _events_of(body)
            records = [body] if events is None else events
            if records:
                name = f"dcsa_{carrier}_{stamp}_p{page_no:04d}.jsonl"
                lines = (_dumps(event) for event in records)
                written.append(
                    write_drop_file(landing_root, tenant_id, SYSTEM, DCSA_ENTITY, name, lines)
                )
            following = next_page_request(answer.url, answer.headers, limit, events_url)
            if following is None:
                return written
            if following.full_url in read:
                raise DcsaPullError(
                    f"{carrier}: DCSA API repeated the next page {redact_url(following.full_url)} "
                    f"after page {page_no} (already read); stopped instead of looping"
                )
            request = following
        raise DcsaPullError(f"{carrier}: more than {max_pages} DCSA pages in one pull")
    finally:
        hooks.remove(remember_answer)


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
    [``&eventType=<event_types>``][``&eventCreatedDateTime:gte=<cursor>``], then the pages
    the answers' ``Next-Page`` links (or ``Next-Page-Cursor`` values) name
    (:func:`pull_dcsa_events`; one JSONL drop file per page).
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
            DcsaPullError: the carrier repeated a next page link or cursor, linked to
                another host, or never stopped paging (pages written before stay and land;
                the cursor is not advanced).
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
