"""The review desk's actions (003 §7.2 "Retry, Edit & Retry, Mark as Resolved, Discard"), each
one row of ``audit.review_actions`` written to the lake (who, when, what, which drop file).

``audit.review_actions`` columns: ``action_id`` (16 hex), ``tenant_id``, ``item_kind``
(``dead_letter``/``quarantine``), ``item_key`` (:mod:`traceloom_pipelines.review_desk.queue`),
``source``, ``entity``, ``record_hash`` (quarantine), ``action`` (``retry``, ``edit_retry``,
``resolve``, ``discard``, ``retry_failed``), ``actor`` (the desk user), ``acted_at`` (UTC),
``failed_at`` (the item's failure, UTC, for the mean time to resolution), ``note`` (free text
the user typed) and ``drop_file`` (the re-drop, relative to the landing root).

What each action does:

* quarantine **retry**: the record as it was quarantined is written again as a new JSONL drop
  file ``landing/<tenant>/<system>/<entity>/desk-<UTC yyyymmddThhmmssffffff>Z-<action id>.jsonl``
  (atomic: ``.part``, fsync, rename — :func:`~traceloom_pipelines.landing.drops.write_drop_file`,
  the gateway's writer). The next landing reads it through the contract like any drop; the
  loader does not skip it as already quarantined because of this action (``loader.py``,
  ``_hash_and_dedupe``). Useful once the contract or reference data changed.
* quarantine **edit and retry**: the same, with the record the user corrected (a JSON object;
  the entity's contract decides on the next landing).
* dead letter **retry**: pulls keep their cursor where the failed request was
  (``landing/pull.py``: the cursor advances only after a pull landed), so the next scheduled
  pull of that source, tenant and entity requests the same window again; that is the replay.
  The action records the request for it, and the desk shows the item replayed once
  ``audit.connector_runs`` has a landed pull of that integration after the failure. No
  separate replay queue exists: the next pull does not read this table.
* **resolve** and **discard**: the status only (nothing is re-dropped or deleted).

The action row is committed before the drop file is written (landing must see the release
before it can read the file); if the file then cannot be written, a ``retry_failed`` row puts
the item back to pending.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from traceloom_pipelines import lake
from traceloom_pipelines.gateway.app import parse_json_body
from traceloom_pipelines.landing.drops import write_drop_file
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.warehouse import lake_connection, run
from traceloom_pipelines.review_desk.queue import DEAD_LETTER, QUARANTINE, ReviewItem
from traceloom_pipelines.sources.catalog import all_entities

ACTIONS = ("retry", "edit_retry", "resolve", "discard")
# A web request waits at most this long for the lake's writer lock (embedded catalog).
WRITE_LOCK_TIMEOUT_S = 60.0
MAX_RECORD_BYTES = 1024 * 1024
MAX_NOTE_CHARS = 2000


class ActionRefused(ValueError):
    """The action does not apply to this item (the message says why, for the user)."""


@dataclass(frozen=True)
class ActionResult:
    """What an action did: its id, and the drop file written (relative path) if any."""

    action_id: str
    drop_file: str | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _entity(item: ReviewItem) -> SourceEntity:
    for entity in all_entities():
        if (entity.system, entity.entity) == (item.source, item.entity):
            return entity
    raise ActionRefused(f"{item.source}/{item.entity} is not a known source entity")


def redroppable_entity(item: ReviewItem) -> SourceEntity:
    """The entity of a quarantined item whose records can be re-dropped as JSONL.

    Raises:
        ActionRefused: not a quarantined record, or its entity's drops are read by a custom
            reader (XML, NMEA …) or accept no ``.jsonl`` files.
    """
    if item.kind != QUARANTINE:
        raise ActionRefused("only a quarantined record can be re-dropped")
    entity = _entity(item)
    if entity.reader is not None or ".jsonl" not in entity.file_suffixes:
        raise ActionRefused(
            f"{item.source}/{item.entity} drops are not JSON records: correct the record at the "
            "source and drop the file again"
        )
    return entity


def parse_record(text: str) -> dict:
    """An edited record: strict JSON (``gateway.app.parse_json_body``) holding one object.

    Raises:
        ActionRefused: too large, not JSON or not an object (the message says which).
    """
    raw = text.encode("utf-8", errors="surrogatepass")
    if len(raw) > MAX_RECORD_BYTES:
        raise ActionRefused(f"the record is larger than {MAX_RECORD_BYTES} bytes")
    try:
        value = parse_json_body(raw)
    except ValueError as error:
        raise ActionRefused(f"the record is not JSON: {getattr(error, 'msg', error)}") from None
    if not isinstance(value, dict):
        raise ActionRefused("the record must be one JSON object ({...})")
    return value


def _drop_line(entity: SourceEntity, record: dict) -> str:
    """One JSONL line holding ``record`` as the entity's reader yields it: wrapped in the
    entity's envelope when it has one (``{"machines": [record]}``), so it is read as one record
    whatever keys it has."""
    if entity.envelope:
        record = {entity.envelope: [record]}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def record_action(
    data_dir: Path,
    item: ReviewItem,
    action: str,
    actor: str,
    note: str | None = None,
    drop_file: str | None = None,
    action_id: str | None = None,
) -> str:
    """Append one row to ``audit.review_actions`` (commit-conflict retries included); returns
    its action id.

    Raises:
        TimeoutError: the lake's writer lock was not free within ``WRITE_LOCK_TIMEOUT_S``.
        duckdb.Error: the lake refused the write after the retries.
    """
    action_id = action_id or uuid.uuid4().hex[:16]
    note = (note or "").strip()[:MAX_NOTE_CHARS] or None
    row = [
        action_id,
        item.tenant_id,
        item.kind,
        item.key,
        item.source,
        item.entity,
        item.record_hash,
        action,
        actor,
        _utc_now(),
        item.failed_at,
        note,
        drop_file,
    ]
    with lake_connection(data_dir, lock_timeout_s=WRITE_LOCK_TIMEOUT_S) as con:
        lake.transaction(
            con,
            lambda: run(
                con,
                "insert into audit.review_actions values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            ),
        )
    return action_id


def _redrop(
    data_dir: Path, item: ReviewItem, action: str, actor: str, line: str, note: str | None
) -> ActionResult:
    """Record ``action``, then write ``line`` as the item's new drop file (module docstring)."""
    action_id = uuid.uuid4().hex[:16]
    stamp = _utc_now().strftime("%Y%m%dT%H%M%S%f")
    name = f"desk-{stamp}Z-{action_id}.jsonl"
    relative = f"{item.tenant_id}/{item.source}/{item.entity}/{name}"
    record_action(data_dir, item, action, actor, note, relative, action_id)
    try:
        write_drop_file(
            data_dir / "landing", item.tenant_id, item.source, item.entity, name, [line]
        )
    except OSError as error:
        record_action(data_dir, item, "retry_failed", actor, f"{type(error).__name__}: {error}")
        raise
    return ActionResult(action_id, relative)


def retry(data_dir: Path, item: ReviewItem, actor: str, note: str | None = None) -> ActionResult:
    """Retry a dead letter (the next pull replays it) or re-drop a quarantined record as it was.

    Raises:
        ActionRefused: a quarantined record that is not a JSON object (use edit and retry), a
            whole file quarantined as one row, or an entity whose drops are not JSON records.
        TimeoutError, duckdb.Error, OSError: the action or the drop file could not be written.
    """
    if item.kind == DEAD_LETTER:
        return ActionResult(record_action(data_dir, item, "retry", actor, note))
    entity = redroppable_entity(item)
    if item.record is None:
        raise ActionRefused("a whole file was quarantined: correct it and drop it again")
    try:
        record = parse_record(item.record)
    except ActionRefused as refused:
        raise ActionRefused(f"{refused}; use edit and retry") from None
    return _redrop(data_dir, item, "retry", actor, _drop_line(entity, record), note)


def edit_and_retry(
    data_dir: Path, item: ReviewItem, actor: str, record_text: str, note: str | None = None
) -> ActionResult:
    """Re-drop the corrected record ``record_text`` (a JSON object) for a quarantined item.

    Raises:
        ActionRefused: not a quarantined record, an entity whose drops are not JSON records, or
            ``record_text`` is not one JSON object.
        TimeoutError, duckdb.Error, OSError: the action or the drop file could not be written.
    """
    entity = redroppable_entity(item)
    record = parse_record(record_text)
    return _redrop(data_dir, item, "edit_retry", actor, _drop_line(entity, record), note)


def set_status(
    data_dir: Path, item: ReviewItem, action: str, actor: str, note: str | None = None
) -> ActionResult:
    """Mark an item resolved (``resolve``) or discarded (``discard``): the status only.

    Raises:
        ValueError: ``action`` is neither.
        TimeoutError, duckdb.Error: the action could not be written.
    """
    if action not in ("resolve", "discard"):
        raise ValueError(f"not a status action: {action!r}")
    return ActionResult(record_action(data_dir, item, action, actor, note))
