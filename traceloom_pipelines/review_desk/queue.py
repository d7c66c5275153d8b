"""The review queue: a tenant's dead letters and quarantined records with their review status,
and the failure metrics of 003 §7.2 — read from the lake, never written here.

Items (:class:`ReviewItem`) come from two audit tables:

* ``audit.dead_letters`` (kind ``dead_letter``): a pull request that failed for good
  (``landing/pull.py``); reason = ``error_class``.
* ``audit.quarantine`` (kind ``quarantine``): a record the source contract refused
  (``landing/loader.py``); reason = ``reason`` (its failed checks joined by ``; ``).

Item keys are stable (the same row always has the same key, in every process) and carry no
tenant secret: the first 24 hex digits of the SHA-256 of a JSON array of the row's identifying
columns, prefixed by the kind —

* ``q`` + sha256(``[tenant_id, source_system, entity, source_file, source_row, record_hash]``):
  a file is landed once per content (its ledger), and a record hash once per tenant and entity,
  so no two quarantine rows share these.
* ``d`` + sha256(``[tenant_id, source, entity, url, params, failed_at, run_id]``), ``failed_at``
  as ``YYYY-MM-DDTHH:MM:SS.ffffff`` (UTC).

An item's status is its latest action in ``audit.review_actions``
(:mod:`traceloom_pipelines.review_desk.actions`): none → ``pending``; ``retry`` or
``edit_retry`` → ``retried``; ``resolve`` → ``resolved``; ``discard`` → ``discarded``;
``retry_failed`` (the re-drop could not be written) → ``pending`` again.
Timestamps are naive UTC, as the lake stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb

from traceloom_pipelines.landing.warehouse import run, table_exists

DEAD_LETTER = "dead_letter"
QUARANTINE = "quarantine"
KINDS = (DEAD_LETTER, QUARANTINE)
STATUSES = ("pending", "retried", "resolved", "discarded")
# action → the status it leaves the item in
ACTION_STATUS = {
    "retry": "retried",
    "edit_retry": "retried",
    "resolve": "resolved",
    "discard": "discarded",
    "retry_failed": "pending",
}
# Actions that settle an item for the mean time to resolution (the first one counts).
HANDLING_ACTIONS = ("retry", "edit_retry", "resolve", "discard")
DEFAULT_LIMIT = 500

_QUARANTINE_KEY = (
    "'q' || left(sha256(to_json([q.tenant_id, q.source_system, q.entity, q.source_file, "
    "q.source_row::varchar, q.record_hash])), 24)"
)
_DEAD_LETTER_KEY = (
    "'d' || left(sha256(to_json([d.tenant_id, d.source, d.entity, d.url, d.params, "
    "strftime(d.failed_at, '%Y-%m-%dT%H:%M:%S.%f'), d.run_id])), 24)"
)
# One row per item: kind, key, tenant, source, entity, reason, detail, failed_at, record,
# record_hash, where (file:row or URL), attempts.
_ITEMS_SQL = f"""
select 'quarantine' as kind, {_QUARANTINE_KEY} as item_key, q.tenant_id,
       q.source_system as source, q.entity, q.reason, array_to_string(q.failed_checks, '; ')
       as detail, q.quarantined_at as failed_at, q.record, q.record_hash,
       q.source_file || ':' || q.source_row as origin, null::integer as attempts
from audit.quarantine q
union all
select 'dead_letter', {_DEAD_LETTER_KEY}, d.tenant_id, d.source, d.entity, d.error_class,
       coalesce('HTTP ' || d.status || ': ', '') || d.error
       || coalesce(' — ' || d.body_excerpt, ''),
       d.failed_at, d.params, null, d.url, d.attempts
from audit.dead_letters d
"""


@dataclass(frozen=True)
class Action:
    """One row of ``audit.review_actions`` as the desk shows it."""

    action: str
    actor: str
    acted_at: datetime
    note: str | None
    drop_file: str | None


@dataclass
class ReviewItem:
    """One dead letter or quarantined record of one tenant.

    Attributes:
        kind: ``dead_letter`` or ``quarantine``.
        key: the stable item key (module docstring).
        tenant_id, source, entity: whose and which integration (``source`` is the source
            system: ``erp``, ``hr`` …).
        reason: dead letter: ``error_class``; quarantine: the failed checks (``a:b; c:d``).
        detail: the error text (dead letter) or the failed checks (quarantine).
        failed_at: when it failed (naive UTC).
        record: quarantine: the raw record's JSON text; dead letter: the request's params.
        record_hash: quarantine: the record's hash (landing's dedupe key); else None.
        origin: quarantine: ``<source file>:<row>``; dead letter: the request URL.
        attempts: dead letter: requests made; else None.
        actions: the item's review actions, oldest first.
        outcome: what became of a quarantined record's last retry (``landed``, ``waiting for
            the next landing`` …) or of a dead letter's window (``replayed by a later pull``,
            ``waiting for the next pull``), or None.
    """

    kind: str
    key: str
    tenant_id: str
    source: str
    entity: str
    reason: str
    detail: str
    failed_at: datetime
    record: str | None
    record_hash: str | None
    origin: str
    attempts: int | None
    actions: list[Action] = field(default_factory=list)
    outcome: str | None = None

    @property
    def status(self) -> str:
        """``pending``, ``retried``, ``resolved`` or ``discarded`` (module docstring)."""
        return ACTION_STATUS[self.actions[-1].action] if self.actions else "pending"

    def age_hours(self, now: datetime | None = None) -> float:
        """Hours since the failure (``now``: naive UTC, default the current time)."""
        now = now or datetime.now(UTC).replace(tzinfo=None)
        return (now - self.failed_at).total_seconds() / 3600


@dataclass(frozen=True)
class Filters:
    """What the queue page shows; empty values do not filter.

    Attributes:
        kind: ``dead_letter`` or ``quarantine``.
        source, entity: exact source system and entity.
        reason: case-insensitive substring of the reason (``is_timestamp``, ``http_5xx`` …).
        older_than_hours: only items that failed at least this many hours ago.
        status: ``pending``, ``retried``, ``resolved`` or ``discarded``.
    """

    kind: str = ""
    source: str = ""
    entity: str = ""
    reason: str = ""
    older_than_hours: float | None = None
    status: str = ""


def _has_actions_table(con: duckdb.DuckDBPyConnection) -> bool:
    # A lake no writer opened since the desk was added has no audit.review_actions yet.
    return table_exists(con, "audit", "review_actions")


def _actions(con: duckdb.DuckDBPyConnection, tenant_id: str, keys: list[str]) -> dict:
    if not keys or not _has_actions_table(con):
        return {}
    rows = run(
        con,
        "select item_key, action, actor, acted_at, note, drop_file from audit.review_actions "
        "where tenant_id = ? and list_contains(?, item_key) order by acted_at, action_id",
        [tenant_id, keys],
    )
    found: dict[str, list[Action]] = {}
    for key, *rest in rows:
        found.setdefault(key, []).append(Action(*rest))
    return found


def _outcomes(con: duckdb.DuckDBPyConnection, items: list[ReviewItem]) -> None:
    """Set :attr:`ReviewItem.outcome`: for a retried quarantined record what landing did with
    its re-drop; for a dead letter whether a later pull of its integration landed (the pull
    starts from the cursor the failed one left, so it requested the same window again)."""
    for item in items:
        if item.kind == QUARANTINE and item.status == "retried":
            rows = run(
                con,
                "select sum(rows_landed), sum(rows_quarantined), sum(rows_duplicate) "
                "from audit.batches where tenant_id = ? and source_file = ?",
                [item.tenant_id, item.actions[-1].drop_file],
            )
            landed, quarantined, duplicate = rows[0]
            if landed is None:
                item.outcome = "waiting for the next landing"
            elif landed:
                item.outcome = "landed"
            elif quarantined:
                item.outcome = "quarantined again (a new item)"
            else:
                item.outcome = "skipped as a duplicate" if duplicate else "nothing read"
        elif item.kind == DEAD_LETTER:
            rows = run(
                con,
                "select run_id from audit.connector_runs where tenant_id = ? and source = ? "
                "and entity = ? and status = 'landed' and started_at > ? "
                "order by started_at limit 1",
                [item.tenant_id, item.source, item.entity, item.failed_at],
            )
            if rows:
                item.outcome = f"replayed by a later pull (run {rows[0][0]})"
            elif item.status == "retried":
                item.outcome = "waiting for the next pull"


def load_items(
    con: duckdb.DuckDBPyConnection,
    tenant_id: str,
    filters: Filters | None = None,
    limit: int = DEFAULT_LIMIT,
    now: datetime | None = None,
) -> tuple[list[ReviewItem], int]:
    """The tenant's items matching ``filters``, newest failure first, at most ``limit``; and how
    many matched in all (before the limit). Statuses and retry outcomes are filled in.

    ``now``: naive UTC reference for ``older_than_hours`` (default: the current time).
    """
    filters = filters or Filters()
    where = ["tenant_id = ?"]
    params: list[object] = [tenant_id]
    for column in ("kind", "source", "entity"):
        value = getattr(filters, column)
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if filters.reason:
        where.append("contains(lower(reason), lower(?))")
        params.append(filters.reason)
    if filters.older_than_hours is not None:
        now = now or datetime.now(UTC).replace(tzinfo=None)
        where.append("failed_at <= ?")
        params.append(now - timedelta(hours=filters.older_than_hours))
    matching = f"select * from ({_ITEMS_SQL}) where {' and '.join(where)}"
    # Without a status filter the limit applies in SQL; a status comes from the actions, so
    # then every matching row is read and the limit applies after.
    cap = "" if filters.status else f" limit {int(limit)}"
    rows = run(con, f"{matching} order by failed_at desc, item_key{cap}", params)
    items = [ReviewItem(*row) for row in rows]
    actions = _actions(con, tenant_id, [i.key for i in items])
    for item in items:
        item.actions = actions.get(item.key, [])
    if filters.status:
        items = [i for i in items if i.status == filters.status]
        total = len(items)
    else:
        total = run(con, f"select count(*) from ({matching})", params)[0][0]
    items = items[:limit]
    _outcomes(con, items)
    return items, total


def find_item(con: duckdb.DuckDBPyConnection, tenant_id: str, key: str) -> ReviewItem | None:
    """The tenant's item with ``key`` (status and outcome filled in), or None — also when the
    key is another tenant's."""
    rows = run(
        con, f"select * from ({_ITEMS_SQL}) where tenant_id = ? and item_key = ?", [tenant_id, key]
    )
    if not rows:
        return None
    item = ReviewItem(*rows[0])
    item.actions = _actions(con, tenant_id, [key]).get(key, [])
    _outcomes(con, [item])
    return item


@dataclass(frozen=True)
class IntegrationMetrics:
    """Failure rate and mean time to resolution of one integration (source, entity) of a
    tenant, over everything the lake holds (003 §7.2 "failure rate by integration type, avg
    resolution time").

    Attributes:
        records_read: records landing read (``audit.batches.rows_read``).
        quarantined: records the contract refused (``audit.quarantine`` rows).
        requests: HTTP requests of pulls (``audit.connector_runs.requests``).
        dead_letters: requests that failed for good (``audit.dead_letters`` rows).
        failure_rate: (quarantined + dead letters) / (records read + requests), 0–1; None when
            nothing was read or requested.
        handled: items with at least one handling action (retry, edit and retry, resolve,
            discard).
        mean_hours_to_resolution: mean of (first handling action − failure), hours; None
            when no item was handled.
    """

    source: str
    entity: str
    records_read: int
    quarantined: int
    requests: int
    dead_letters: int
    handled: int
    mean_hours_to_resolution: float | None

    @property
    def failure_rate(self) -> float | None:
        attempts = self.records_read + self.requests
        return (self.quarantined + self.dead_letters) / attempts if attempts else None


def integration_metrics(con: duckdb.DuckDBPyConnection, tenant_id: str) -> list[IntegrationMetrics]:
    """Per integration (source, entity) of ``tenant_id``, sorted by source and entity."""
    handled_sql = "select null::varchar, null::varchar, 0, null::double where false"
    if _has_actions_table(con):
        handled_sql = f"""
            select source, entity, count(*),
                   avg(epoch(first_at) - epoch(failed_at)) / 3600.0
            from (select item_key, source, entity, min(failed_at) as failed_at,
                         min(acted_at) as first_at
                  from audit.review_actions
                  where tenant_id = $tenant
                    and action in ({", ".join(f"'{a}'" for a in HANDLING_ACTIONS)})
                  group by all)
            group by all"""
    rows = run(
        con,
        f"""
        with read as (
            select source_system as source, entity, sum(rows_read) as n
            from audit.batches where tenant_id = $tenant group by all),
        quarantined as (
            select source_system as source, entity, count(*) as n
            from audit.quarantine where tenant_id = $tenant group by all),
        requests as (
            select source, entity, sum(requests) as n
            from audit.connector_runs where tenant_id = $tenant group by all),
        dead as (
            select source, entity, count(*) as n
            from audit.dead_letters where tenant_id = $tenant group by all),
        handled(source, entity, n, hours) as ({handled_sql}),
        integrations as (
            select source, entity from read union select source, entity from quarantined
            union select source, entity from requests union select source, entity from dead)
        select i.source, i.entity, coalesce(r.n, 0), coalesce(q.n, 0), coalesce(p.n, 0),
               coalesce(d.n, 0), coalesce(h.n, 0), h.hours
        from integrations i
        left join read r using (source, entity)
        left join quarantined q using (source, entity)
        left join requests p using (source, entity)
        left join dead d using (source, entity)
        left join handled h using (source, entity)
        order by i.source, i.entity
        """,
        {"tenant": tenant_id},
    )
    return [IntegrationMetrics(*row) for row in rows]
