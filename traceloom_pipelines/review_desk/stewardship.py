"""The review desk's stewardship page (seed 004 "stewardship UI for merge review", issue #16 §2):
the review-band pairs and the clusters of identity resolution, and the stewards' decisions.

A decision is one row of ``audit.stewardship_decisions``: ``decision_id`` (16 hex),
``tenant_id``, ``entity_type`` (``supplier`` | ``product``), ``action``, ``record_id_l`` /
``record_id_r`` (``<source>:<source_id>`` of ``master_data.<type>_clusters``, the smaller
first), ``actor`` (the desk user), ``decided_at`` (UTC), ``reason`` (free text). It changes
nothing by itself: every later resolution (traceloom_pipelines/master_data/resolve.py) replays
the latest decision per pair —

* ``confirm``: a review-band pair is the same entity: linked;
* ``merge``: two records (e.g. of two clusters) are the same entity: linked;
* ``split``: two records are different entities: their link is dropped and a minimum edge cut
  between them is removed, so they never share a cluster again (until a later merge).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from urllib.parse import quote

import duckdb

from traceloom_pipelines import lake
from traceloom_pipelines.landing.warehouse import lake_connection, run, table_exists
from traceloom_pipelines.review_desk.pages import page, utc

ENTITY_TYPES = ("supplier", "product")
DECISIONS = ("confirm", "merge", "split")
MAX_REASON_CHARS = 2000
WRITE_LOCK_TIMEOUT_S = 60.0


class DecisionRefused(ValueError):
    """The decision does not apply (unknown record, same record twice …); the message says why."""


@dataclass(frozen=True)
class ReviewPair:
    """A scored pair of the review band (or one a steward already decided)."""

    record_id_l: str
    name_l: str | None
    record_id_r: str
    name_r: str | None
    match_probability: float | None
    evidence: str | None
    decision: str
    steward_action: str | None


@dataclass(frozen=True)
class Cluster:
    """A canonical entity with its source records ``[(record_id, name)]``."""

    canonical_id: str
    records: list[tuple[str, str | None]]


def load_review(
    con: duckdb.DuckDBPyConnection, tenant_id: str, entity_type: str
) -> tuple[list[ReviewPair], list[Cluster], list[tuple]]:
    """(review-band and steward-decided pairs, clusters with more than one record or a decided
    record, the tenant's decisions of ``entity_type`` newest first) from the lake."""
    if not table_exists(con, "master_data", f"{entity_type}_matches"):
        return [], [], []
    names = dict(
        run(
            con,
            f"select record_id, name from master_data.{entity_type}_clusters where tenant_id = ?",
            [tenant_id],
        )
    )
    pairs = [
        ReviewPair(a, names.get(a), b, names.get(b), p, e, d, s)
        for a, b, p, e, d, s in run(
            con,
            "select record_id_l, record_id_r, match_probability, evidence, decision, "
            f"steward_action from master_data.{entity_type}_matches "
            "where tenant_id = ? and (decision = 'review' or steward_action is not null) "
            "order by match_probability desc nulls last, record_id_l, record_id_r",
            [tenant_id],
        )
    ]
    members: dict[str, list[tuple[str, str | None]]] = {}
    for canonical, record, name in run(
        con,
        f"select canonical_id, record_id, name from master_data.{entity_type}_clusters "
        "where tenant_id = ? order by canonical_id, record_id",
        [tenant_id],
    ):
        members.setdefault(canonical, []).append((record, name))
    clusters = [Cluster(c, rs) for c, rs in sorted(members.items())]
    decisions = run(
        con,
        "select action, record_id_l, record_id_r, actor, decided_at, reason "
        "from audit.stewardship_decisions where tenant_id = ? and entity_type = ? "
        "order by decided_at desc, decision_id",
        [tenant_id, entity_type],
    )
    return pairs, clusters, decisions


def record_decision(
    data_dir: Path,
    tenant_id: str,
    entity_type: str,
    action: str,
    record_a: str,
    record_b: str,
    actor: str,
    reason: str | None,
) -> str:
    """Check both records exist in the tenant's clusters and append the decision (module
    docstring) with the lake's commit-conflict retries; returns its decision id.

    Raises:
        DecisionRefused: an unknown type, action or record, or the same record twice.
        TimeoutError: the lake's writer lock was not free within ``WRITE_LOCK_TIMEOUT_S``.
    """
    if entity_type not in ENTITY_TYPES or action not in DECISIONS:
        raise DecisionRefused("Unknown decision.")
    record_a, record_b = (record_a or "").strip(), (record_b or "").strip()
    if not record_a or not record_b or record_a == record_b:
        raise DecisionRefused("Name two different records.")
    left, right = sorted((record_a, record_b))
    decision_id = uuid.uuid4().hex[:16]
    reason = (reason or "").strip()[:MAX_REASON_CHARS] or None
    with lake_connection(data_dir, lock_timeout_s=WRITE_LOCK_TIMEOUT_S) as con:
        known = {
            r
            for (r,) in run(
                con,
                f"select record_id from master_data.{entity_type}_clusters "
                "where tenant_id = ? and record_id in (?, ?)",
                [tenant_id, left, right],
            )
        }
        missing = sorted({left, right} - known)
        if missing:
            raise DecisionRefused(f"No such {entity_type} record of this tenant: {missing[0]}.")
        row = [
            decision_id,
            tenant_id,
            entity_type,
            action,
            left,
            right,
            actor,
            datetime.now(UTC).replace(tzinfo=None),
            reason,
        ]
        lake.transaction(
            con,
            lambda: run(
                con,
                "insert into audit.stewardship_decisions values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            ),
        )
    return decision_id


def stewardship_url(tenant_id: str, entity_type: str) -> str:
    """The page of one tenant and entity type."""
    return f"/tenants/{quote(tenant_id)}/stewardship?type={quote(entity_type)}"


def _form(
    tenant_id: str, entity_type: str, action: str, csrf: str, a: str, b: str, label: str
) -> str:
    hidden = (
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="type" value="{escape(entity_type)}">'
    )
    if a and b:
        records = (
            f'<input type="hidden" name="record_id_l" value="{escape(a)}">'
            f'<input type="hidden" name="record_id_r" value="{escape(b)}">'
        )
    else:
        records = (
            '<label>record <input name="record_id_l" size="28"></label> '
            '<label>record <input name="record_id_r" size="28"></label> '
        )
    return (
        f'<form class="inline" method="post" '
        f'action="/tenants/{quote(tenant_id)}/stewardship/{action}">{hidden}{records}'
        '<label>reason <input name="reason" size="24"></label> '
        f'<button type="submit" name="do" value="{action}">{escape(label)}</button></form>'
    )


def stewardship_page(
    user: str,
    tenants: tuple[str, ...],
    tenant_id: str,
    entity_type: str,
    csrf: str,
    pairs: list[ReviewPair],
    clusters: list[Cluster],
    decisions: list[tuple],
    message: str | None = None,
    error: str | None = None,
) -> str:
    """The review band (confirm / split per pair), the clusters (merge / split any two records)
    and the decision history of one tenant and entity type."""
    notice = f'<p class="message" id="message">{escape(message)}</p>' if message else ""
    if error:
        notice += f'<p class="error" id="error">{escape(error)}</p>'
    switch = " · ".join(f'<a href="{stewardship_url(tenant_id, t)}">{t}s</a>' for t in ENTITY_TYPES)
    rows = "".join(
        f'<tr class="pair"><td>{escape(p.record_id_l)}<br>{escape(p.name_l or "")}</td>'
        f"<td>{escape(p.record_id_r)}<br>{escape(p.name_r or '')}</td>"
        f"<td>{'' if p.match_probability is None else f'{p.match_probability:.3f}'}</td>"
        f"<td>{escape(p.evidence or '')}</td><td>{escape(p.decision)}"
        f"{' (' + escape(p.steward_action) + ')' if p.steward_action else ''}</td><td>"
        + _form(tenant_id, entity_type, "confirm", csrf, p.record_id_l, p.record_id_r, "Confirm")
        + _form(tenant_id, entity_type, "split", csrf, p.record_id_l, p.record_id_r, "Split")
        + "</td></tr>"
        for p in pairs
    )
    cluster_rows = "".join(
        f'<tr class="cluster"><td>{escape(c.canonical_id)}</td><td>'
        + "<br>".join(f"{escape(r)} — {escape(n or '')}" for r, n in c.records)
        + "</td></tr>"
        for c in clusters
        if len(c.records) > 1
    )
    history = "".join(
        f"<tr><td>{escape(a)}</td><td>{escape(left)}</td><td>{escape(right)}</td>"
        f"<td>{escape(actor)}</td><td>{utc(at)}</td><td>{escape(reason or '')}</td></tr>"
        for a, left, right, actor, at, reason in decisions
    )
    body = (
        notice
        + f"<p>{switch} — decisions apply from the next resolution run on.</p>"
        + f"<h2>Review band ({len(pairs)})</h2>"
        + '<table id="review"><tr><th>record</th><th>record</th><th>match probability</th>'
        + f"<th>evidence</th><th>decision</th><th></th></tr>{rows}</table>"
        + "<h2>Merge or split any two records</h2>"
        + _form(tenant_id, entity_type, "merge", csrf, "", "", "Merge")
        + _form(tenant_id, entity_type, "split", csrf, "", "", "Split")
        + '<h2>Clusters</h2><table id="clusters"><tr><th>canonical id</th><th>records</th></tr>'
        + f"{cluster_rows}</table>"
        + '<h2>Decisions</h2><table id="decisions"><tr><th>action</th><th>record</th>'
        + f"<th>record</th><th>by</th><th>at</th><th>reason</th></tr>{history}</table>"
    )
    return page(f"Stewardship: {entity_type}s of {tenant_id}", user, tenants, body)
