"""Certifications REST pull (000 §4.1): a tenant's certificates, audits and requirements feed.

The certification database (or the tenant's compliance system) is read with one simple REST
shape, the same for the three entities (``<entity>`` = ``certificates``, ``audits`` or
``requirements``), relative to the tenant's base URL (``$TRACELOOM_CERTIFICATIONS_URL``,
``{tenant}`` → tenant id)::

    GET <base>/<entity>?page=<n>&pageSize=<k>[&updatedSince=<ISO-8601>]
    → {"items": [<record>, ...], "page": n, "nextPage": n + 1 | null}

- ``items`` are records exactly as in the CSV/JSON drops (``contract.py``: ``certificateId`` …
  ``updatedAt``); they are written unchanged as JSONL drop files and land in the same raw tables.
- ``updatedSince`` is inclusive (records with ``updatedAt >= updatedSince``); it is left out on
  the first pull (everything). Pages start at 1; paging stops when ``nextPage`` is null or
  missing, or a page has no items.
- The cursor stored after landing is the latest ``updatedAt`` pulled. Records of that very
  instant come again on the next pull; they are exact duplicates, which the landing's md5 dedupe
  skips, so nothing lands twice.

Files: ``<entity>_p<nnn>_<content digest>.jsonl`` (one per page): a page with the same records
gets the same name and bytes, so the landing ledger skips it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from traceloom_pipelines.integration.http import SourceProtocolError
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.pull import (
    PullBatch,
    PullResource,
    content_digest,
    latest_timestamp,
    pull_env_config,
    record_line,
    write_pull_file,
)

ENV_PREFIX = "TRACELOOM_CERTIFICATIONS"
RESOURCE_KEY = "certifications_api"
ENTITIES_SERVED = ("certificates", "audits", "requirements")
UPDATED_SINCE = "updatedSince"
MAX_PAGES = 10_000  # a server whose nextPage never ends must not loop forever


class CertificationsPullError(SourceProtocolError):
    """The certifications API answered with a shape the connector cannot page through.

    A :class:`~traceloom_pipelines.integration.http.SourceProtocolError` (failure class
    ``protocol``): the ingestion asset records the tenant's pull as failed, not the step.
    """


class CertificationsApiResource(PullResource):
    """Pulls a tenant's certificates, audits and requirements (module docstring: REST shape).

    Attributes: those of :class:`~traceloom_pipelines.landing.pull.PullResource`
    (``page_size`` is sent as ``pageSize``).
    """

    @property
    def source(self) -> str:
        return "certifications"

    def pull(
        self,
        *,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        """Pull ``tenant_id``'s records of ``entity`` updated at or after ``cursor``.

        Returns the page files written and, as the next cursor, the latest ``updatedAt`` pulled
        (``cursor`` again when no record is newer).

        Raises:
            ValueError: an entity the API does not serve.
            CertificationsPullError: a page without an ``items`` list, a repeated or
                non-increasing ``nextPage``, or more than :data:`MAX_PAGES` pages (pages
                written before stay and land; the cursor is not advanced).
            SourceRequestError, CircuitOpenError: a request failed for good (pages written
                before stay and land; the cursor is not advanced).
        """
        if entity.entity not in ENTITIES_SERVED:
            raise ValueError(f"the certifications API does not serve {entity.entity}")
        client = self.client(tenant_id)
        files: list[Path] = []
        latest = cursor
        records_total = 0
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "pageSize": self.page_size}
            if cursor:
                params[UPDATED_SINCE] = cursor
            body = client.get_json(entity.entity, params)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise CertificationsPullError(
                    f"certifications/{entity.entity} page {page}: no 'items' list in the answer"
                )
            if not items:
                break
            digest = content_digest(record_line(item) for item in items)
            files.append(
                write_pull_file(
                    landing_root,
                    tenant_id,
                    entity,
                    f"{entity.entity}_p{page:03d}_{digest}.jsonl",
                    items,
                )
            )
            records_total += len(items)
            latest = latest_timestamp(
                (item.get("updatedAt") for item in items if isinstance(item, dict)), latest
            )
            next_page = body.get("nextPage")
            if next_page is None:
                break
            if not isinstance(next_page, int) or next_page <= page:
                raise CertificationsPullError(
                    f"certifications/{entity.entity}: nextPage {next_page!r} after page {page}"
                )
            if next_page > MAX_PAGES:
                raise CertificationsPullError(
                    f"certifications/{entity.entity}: more than {MAX_PAGES} pages, giving up"
                )
            page = next_page
        log(
            f"certifications/{entity.entity} [{tenant_id}]: {records_total} record(s) in "
            f"{len(files)} page(s) since {cursor or 'start'}"
        )
        return PullBatch(
            files=files,
            next_cursor=latest,
            metadata={"pages": len(files), "records": records_total, "since": cursor or ""},
        )


def certifications_api_from_env() -> CertificationsApiResource:
    """The certifications pull resource from ``TRACELOOM_CERTIFICATIONS_*`` (disabled when
    ``TRACELOOM_CERTIFICATIONS_URL`` is unset)."""
    overrides: dict[str, Any] = {}
    if os.environ.get(f"{ENV_PREFIX}_PAGE_SIZE"):
        overrides["page_size"] = int(os.environ[f"{ENV_PREFIX}_PAGE_SIZE"])
    return CertificationsApiResource(**pull_env_config(ENV_PREFIX, **overrides))
