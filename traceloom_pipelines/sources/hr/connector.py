"""HR REST pull (003 §5.2.1): the employee master as a paged full pull and shift schedules by date.

Endpoints (relative to the tenant's base URL, ``$TRACELOOM_HR_API_URL``):

- ``GET employees?page=<n>&page_size=<k>[&department=…]`` →
  ``{"employees": [...], "total_count": N, "page": n, "page_size": k}``; pages are fetched
  until ``total_count`` records have arrived (or a page comes back empty).
- ``GET schedules?date=YYYY-MM-DD[&department=…]`` → ``{"schedules": [...]}``, one request per
  day of the window: from the stored cursor (the last day pulled as "today") or, on a tenant's
  first pull, from the backfill start (``$TRACELOOM_HR_API_BACKFILL_START``, an ISO date; unset:
  30 days before today), to 7 days after today (UTC dates). Later pulls are incremental.

Records are written unchanged (the same JSON objects the HR drop files hold), one JSONL file per
page (``employees_full_<UTC date>_page_<nnn>.jsonl``) or per schedule date
(``schedules_<date>.jsonl``), so they land in the same raw tables as the drops and a re-pull of
the same day writes the same names. A complete employee pull (``total_count`` records, no
duplicate ids) is a snapshot: its employee ids go to ``audit.pull_snapshots``, and
``int_employees_active_by_latest_full_pull`` marks employees absent from the latest snapshot
inactive (003 §5.2.1 step 4: terminated employees are deactivated, not deleted).

Attendance (003 §5.2.1's clock events) is a webhook payload, not a pull: it arrives as drop
files only, so the backfill start does not apply to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from traceloom_pipelines.integration.http import SourceProtocolError
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.pull import (
    PullBatch,
    PullResource,
    pull_env_config,
    write_pull_file,
)

ENV_PREFIX = "TRACELOOM_HR_API"
RESOURCE_KEY = "hr_api"
MAX_PAGES = 10_000  # a server that never reaches total_count must not loop forever
DEFAULT_BACKFILL_DAYS = 30  # first schedule pull without a backfill start: today − 30 days
# Settings read from ``TRACELOOM_HR_API_<suffix>`` besides pull_env_config's (all text).
EXTRA_ENV_FIELDS = {"DEPARTMENT": "department", "BACKFILL_START": "backfill_start"}


class HrPullError(SourceProtocolError):
    """The HR API answered with a shape the connector cannot page through (no retry helps).

    A :class:`~traceloom_pipelines.integration.http.SourceProtocolError` (failure class
    ``protocol``): the ingestion asset records the tenant's pull as failed, not the step.
    """


class HrApiResource(PullResource):
    """Pulls HR employees (full, paged) and shift schedules (by date) for each tenant.

    Attributes (besides :class:`~traceloom_pipelines.landing.pull.PullResource`'s):
        department: ``department`` query filter (seed: ``Manufacturing``); empty: all.
        backfill_start: ISO date (``2025-09-01``) the first schedule pull of a tenant (no
            cursor stored yet) starts at; empty: :attr:`schedule_backfill_days` before
            ``today``. Ignored once a cursor is stored.
        schedule_backfill_days: days before ``today`` the first pull starts at when
            :attr:`backfill_start` is empty (default 30).
        schedule_days_ahead: days after ``today`` pulled (schedules are published ahead).
        today: ISO date taken as today (UTC); empty: the current UTC date. Tests and replays
            pin it.
    """

    department: str = ""
    backfill_start: str = ""
    schedule_backfill_days: int = DEFAULT_BACKFILL_DAYS
    schedule_days_ahead: int = 7
    today: str = ""

    @property
    def source(self) -> str:
        return "hr"

    def pull(
        self,
        *,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        """Pull ``employees`` or ``shift_schedules`` of one tenant (see module docstring).

        Raises:
            SourceRequestError, CircuitOpenError: a request failed for good.
            HrPullError: an answer without its ``employees`` / ``schedules`` list, a
                ``total_count`` that is not a whole number, or more than :data:`MAX_PAGES`
                pages (pages written before stay and land; the cursor is not advanced).
            ValueError: any other entity; a bad :attr:`backfill_start` on a first schedule
                pull (:meth:`first_pull_start`).
        """
        if entity.entity == "employees":
            return self._pull_employees(entity, landing_root, tenant_id, log)
        if entity.entity == "shift_schedules":
            return self._pull_schedules(entity, landing_root, tenant_id, cursor, log)
        raise ValueError(f"the HR API does not serve {entity.entity}")

    def _today(self) -> date:
        return date.fromisoformat(self.today) if self.today else datetime.now(UTC).date()

    def first_pull_start(self) -> date:
        """The first day a tenant's first schedule pull asks for (UTC date): :attr:`backfill_start`,
        or :attr:`schedule_backfill_days` before ``today`` when that is empty.

        Raises:
            ValueError: :attr:`backfill_start` is not an ISO date (``YYYY-MM-DD``) or is after
                ``today`` (the days before it would never be pulled), or
                :attr:`schedule_backfill_days` is negative.
        """
        today = self._today()
        if not self.backfill_start.strip():
            if self.schedule_backfill_days < 0:
                raise ValueError(
                    f"hr: schedule_backfill_days must be ≥ 0, got {self.schedule_backfill_days}"
                )
            return today - timedelta(days=self.schedule_backfill_days)
        try:
            start = date.fromisoformat(self.backfill_start.strip())
        except ValueError:
            raise ValueError(
                f"hr: backfill_start ({ENV_PREFIX}_BACKFILL_START) must be an ISO date "
                f"YYYY-MM-DD, got {self.backfill_start!r}"
            ) from None
        if start > today:
            raise ValueError(
                f"hr: backfill_start ({ENV_PREFIX}_BACKFILL_START) {start} is after today {today}"
            )
        return start

    def _filters(self) -> dict[str, str]:
        return {"department": self.department} if self.department else {}

    def _pull_employees(
        self, entity: SourceEntity, landing_root: Path, tenant_id: str, log: Callable[[str], None]
    ) -> PullBatch:
        client = self.client(tenant_id)
        stamp = self._today().strftime("%Y%m%d")
        files: list[Path] = []
        ids: list[str] = []
        total: int | None = None
        page = 1
        while True:
            body = client.get_json(
                "employees", {"page": page, "page_size": self.page_size, **self._filters()}
            )
            records = body.get("employees") if isinstance(body, dict) else None
            if not isinstance(records, list):
                raise HrPullError(f"hr employees page {page}: no 'employees' list in the answer")
            try:
                total = int(body.get("total_count", total or 0))
            except (TypeError, ValueError):
                raise HrPullError(
                    f"hr employees page {page}: total_count {str(body.get('total_count'))[:40]!r} "
                    "is not a whole number"
                ) from None
            if not records:
                break
            files.append(
                write_pull_file(
                    landing_root,
                    tenant_id,
                    entity,
                    f"employees_full_{stamp}_page_{page:03d}.jsonl",
                    records,
                )
            )
            ids.extend(str(r.get("employee_id")) for r in records if isinstance(r, dict))
            if len(ids) >= total:
                break
            if page >= MAX_PAGES:
                raise HrPullError(f"hr employees: more than {MAX_PAGES} pages, giving up")
            page += 1
        complete = total is not None and len(ids) == total and len(set(ids)) == len(ids)
        log(
            f"hr/employees [{tenant_id}]: {len(ids)} of {total} employees in {len(files)} page(s)"
            + ("" if complete else " — incomplete, not used as a snapshot")
        )
        return PullBatch(
            files=files,
            next_cursor=None,  # a full pull has no cursor
            metadata={"pages": len(files), "records": len(ids), "total_count": total},
            snapshot_keys=tuple(ids) if complete else None,
        )

    def _pull_schedules(
        self,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        client = self.client(tenant_id)
        today = self._today()
        # The stored cursor is the last day pulled as "today"; pull again from there because
        # the schedules of that day and the days ahead may have changed since. Without one this
        # is the tenant's first pull: it backfills from the configured start.
        start = date.fromisoformat(cursor) if cursor else self.first_pull_start()
        end = today + timedelta(days=self.schedule_days_ahead)
        files: list[Path] = []
        records_total = 0
        day = start
        while day <= end:
            body = client.get_json("schedules", {"date": day.isoformat(), **self._filters()})
            records = body.get("schedules") if isinstance(body, dict) else None
            if not isinstance(records, list):
                raise HrPullError(f"hr schedules {day}: no 'schedules' list in the answer")
            if records:
                files.append(
                    write_pull_file(
                        landing_root,
                        tenant_id,
                        entity,
                        f"schedules_{day.isoformat()}.jsonl",
                        records,
                    )
                )
                records_total += len(records)
            day += timedelta(days=1)
        log(f"hr/shift_schedules [{tenant_id}]: {records_total} shifts, {start} … {end}")
        return PullBatch(
            files=files,
            next_cursor=today.isoformat(),
            metadata={
                "from": start.isoformat(),
                "to": end.isoformat(),
                "records": records_total,
                "backfill": not cursor,
            },
        )


def hr_api_from_env() -> HrApiResource:
    """The HR pull resource configured from ``TRACELOOM_HR_API_*`` (disabled when the URL is
    unset): ``_DEPARTMENT`` filters by department; ``_BACKFILL_START`` (ISO date) is where a
    tenant's first schedule pull starts (unset: 30 days before today).

    Raises:
        ValueError: ``TRACELOOM_HR_API_BACKFILL_START`` is not an ISO date ``YYYY-MM-DD``
            (checked here so a typo shows when the definitions load; a date after today is
            refused when the schedules are pulled).
    """
    overrides = {}
    for suffix, name in EXTRA_ENV_FIELDS.items():
        value = os.environ.get(f"{ENV_PREFIX}_{suffix}", "").strip()
        if value:
            overrides[name] = value
    if "backfill_start" in overrides:
        try:
            date.fromisoformat(overrides["backfill_start"])
        except ValueError:
            raise ValueError(
                f"{ENV_PREFIX}_BACKFILL_START must be an ISO date YYYY-MM-DD, "
                f"got {overrides['backfill_start']!r}"
            ) from None
    return HrApiResource(**pull_env_config(ENV_PREFIX, **overrides))
