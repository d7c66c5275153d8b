"""The review desk's HTML: server-rendered pages, every value escaped (no JavaScript at all).

Pages: the queue of one tenant (filters, items, integration metrics) and one item (details,
action history, action forms). Times are shown in UTC.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from urllib.parse import quote

from traceloom_pipelines.review_desk.queue import (
    KINDS,
    STATUSES,
    Filters,
    IntegrationMetrics,
    ReviewItem,
)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1f24}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eef}
pre{background:#f6f8fa;padding:.5rem;white-space:pre-wrap;word-break:break-all}
form.inline{display:inline-block;margin-right:1rem}
.status-pending{color:#a40}.status-retried{color:#06c}
.status-resolved{color:#070}.status-discarded{color:#666}
.message{background:#efe;border:1px solid #7b7;padding:.5rem}
.error{background:#fee;border:1px solid #c77;padding:.5rem}
textarea{width:100%;font-family:monospace}
"""


def utc(moment: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS UTC`` of a naive UTC timestamp ('' for None)."""
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def page(title: str, user: str, tenants: tuple[str, ...], body: str) -> str:
    """A whole HTML page: title, the signed-in user and their tenants, then ``body``."""
    links = " · ".join(f'<a href="/tenants/{quote(t)}">{escape(t)}</a>' for t in tenants)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header>Review desk — signed in as <b id="user">{escape(user)}</b>; tenants: {links}'
        f"</header><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _options(values, selected: str, blank: str = "any") -> str:
    out = [f'<option value="">{escape(blank)}</option>']
    for value in values:
        mark = " selected" if value == selected else ""
        out.append(f'<option value="{escape(value)}"{mark}>{escape(value)}</option>')
    return "".join(out)


def _filter_form(filters: Filters, sources: list[str], entities: list[str]) -> str:
    hours = "" if filters.older_than_hours is None else f"{filters.older_than_hours:g}"
    return (
        '<form id="filters" method="get">'
        f'<label>kind <select name="kind">{_options(KINDS, filters.kind)}</select></label> '
        f'<label>source <select name="source">{_options(sources, filters.source)}</select>'
        "</label> "
        f'<label>entity <select name="entity">{_options(entities, filters.entity)}</select>'
        "</label> "
        f'<label>reason contains <input name="reason" value="{escape(filters.reason)}">'
        "</label> "
        '<label>older than (hours) <input name="older_than_hours" type="number" min="0" '
        f'step="any" value="{escape(hours)}"></label> '
        f'<label>status <select name="status">{_options(STATUSES, filters.status)}</select>'
        '</label> <button type="submit">Filter</button></form>'
    )


def _status(item: ReviewItem) -> str:
    outcome = f" — {escape(item.outcome)}" if item.outcome else ""
    return f'<span class="status-{item.status}">{item.status}</span>{outcome}'


def item_url(tenant_id: str, key: str) -> str:
    """Path of one item's page."""
    return f"/tenants/{quote(tenant_id)}/items/{quote(key)}"


def _percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f} %"


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def metrics_table(metrics: list[IntegrationMetrics]) -> str:
    """Failure rate and mean time to resolution per integration (003 §7.2)."""
    rows = "".join(
        f'<tr data-integration="{escape(m.source)}/{escape(m.entity)}">'
        f"<td>{escape(m.source)}/{escape(m.entity)}</td><td>{m.records_read}</td>"
        f"<td>{m.quarantined}</td><td>{m.requests}</td><td>{m.dead_letters}</td>"
        f'<td class="rate">{_percent(m.failure_rate)}</td><td>{m.handled}</td>'
        f'<td class="mttr">{_hours(m.mean_hours_to_resolution)}</td></tr>'
        for m in metrics
    )
    return (
        '<h2>Failure rate and time to resolution by integration</h2><table id="metrics">'
        "<tr><th>integration</th><th>records read</th><th>quarantined</th><th>pull requests</th>"
        "<th>dead letters</th><th>failure rate</th><th>items handled</th>"
        "<th>mean hours to resolution</th></tr>"
        f"{rows}</table><p>Failure rate = (quarantined + dead letters) / (records read + pull "
        "requests). Time to resolution: from the failure to the first retry, edit and retry, "
        "resolve or discard.</p>"
    )


def queue_page(
    user: str,
    tenants: tuple[str, ...],
    tenant_id: str,
    filters: Filters,
    items: list[ReviewItem],
    total: int,
    metrics: list[IntegrationMetrics],
    now: datetime,
) -> str:
    """The tenant's queue: filter form, items (newest failure first), metrics."""
    sources = sorted({m.source for m in metrics})
    entities = sorted({m.entity for m in metrics})
    rows = "".join(
        f'<tr data-key="{escape(i.key)}" data-kind="{i.kind}">'
        f'<td><a href="{item_url(tenant_id, i.key)}">{escape(i.key)}</a></td>'
        f"<td>{i.kind.replace('_', ' ')}</td><td>{escape(i.source)}</td>"
        f"<td>{escape(i.entity)}</td><td class=reason>{escape(i.reason)}</td>"
        f"<td>{utc(i.failed_at)}</td><td>{i.age_hours(now):.1f}</td>"
        f'<td class="status">{_status(i)}</td></tr>'
        for i in items
    )
    shown = f"{len(items)} of {total}" if total > len(items) else f"{total}"
    body = (
        _filter_form(filters, sources, entities)
        + f'<h2>Items (<span id="count">{shown}</span>)</h2><table id="items">'
        "<tr><th>item</th><th>kind</th><th>source</th><th>entity</th><th>reason</th>"
        "<th>failed at</th><th>age (h)</th><th>status</th></tr>"
        f"{rows}</table>" + metrics_table(metrics)
    )
    return page(f"Failures of {tenant_id}", user, tenants, body)


def _record_text(item: ReviewItem) -> str:
    """The record as the edit box shows it: indented JSON, or the text as it was."""
    if item.record is None:
        return ""
    try:
        return json.dumps(json.loads(item.record), indent=2, ensure_ascii=False)
    except ValueError:
        return item.record


def _action_form(item: ReviewItem, action: str, label: str, csrf: str, extra: str = "") -> str:
    return (
        f'<form class="inline" id="form-{action}" method="post" '
        f'action="{item_url(item.tenant_id, item.key)}/{action}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">{extra}'
        f'<label>note <input name="note" size="30"></label> '
        f'<button type="submit" id="do-{action}">{escape(label)}</button></form>'
    )


def item_page(
    user: str,
    tenants: tuple[str, ...],
    item: ReviewItem,
    csrf: str,
    message: str | None = None,
    error: str | None = None,
    edited: str | None = None,
) -> str:
    """One item: what failed, its history of actions and the action forms."""
    notice = ""
    if message:
        notice = f'<p class="message" id="message">{escape(message)}</p>'
    if error:
        notice += f'<p class="error" id="error">{escape(error)}</p>'
    facts = [
        ("kind", item.kind.replace("_", " ")),
        ("integration", f"{item.source}/{item.entity}"),
        ("reason", item.reason),
        ("detail", item.detail),
        ("failed at", utc(item.failed_at)),
        ("origin", item.origin),
    ]
    if item.attempts is not None:
        facts.append(("attempts", str(item.attempts)))
    details = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    history = "".join(
        f"<tr><td>{escape(a.action)}</td><td>{escape(a.actor)}</td><td>{utc(a.acted_at)}</td>"
        f"<td>{escape(a.note or '')}</td><td>{escape(a.drop_file or '')}</td></tr>"
        for a in item.actions
    )
    label = "request params" if item.kind == "dead_letter" else "record"
    forms = _action_form(item, "retry", "Retry", csrf)
    if item.kind == "quarantine":
        text = edited if edited is not None else _record_text(item)
        forms += (
            "<h3>Edit and retry</h3>"
            + _action_form(
                item,
                "edit-retry",
                "Edit and retry",
                csrf,
                f'<textarea name="record" id="record" rows="14">{escape(text)}</textarea><br>',
            )
            + "<h3>Close</h3>"
        )
    forms += _action_form(item, "resolve", "Mark resolved", csrf)
    forms += _action_form(item, "discard", "Discard", csrf)
    body = (
        notice + f'<p><a href="/tenants/{quote(item.tenant_id)}">← queue of '
        f"{escape(item.tenant_id)}</a></p>"
        f'<p>Status: <b id="status">{_status(item)}</b></p>'
        f'<table>{details}</table><h2>{label}</h2><pre id="raw">{escape(item.record or "")}'
        "</pre><h2>Actions</h2>"
        f"{forms}<h2>History</h2>"
        '<table id="history"><tr><th>action</th><th>by</th><th>at</th><th>note</th>'
        f"<th>drop file</th></tr>{history}</table>"
    )
    return page(f"{item.kind.replace('_', ' ')} {item.key}", user, tenants, body)


def message_page(user: str, tenants: tuple[str, ...], title: str, text: str) -> str:
    """A page saying one thing (forbidden, not found, busy …)."""
    return page(title, user, tenants, f'<p class="error" id="error">{escape(text)}</p>')
