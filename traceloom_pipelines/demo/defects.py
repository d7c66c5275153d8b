"""Defect injection: extra records that the landing contract must quarantine or skip.

Every defect is an *additional* record (the clean world stays whole and consistent):
a mutated copy of a clean record that fails exactly one contract check, a truncated JSONL line,
or a byte-identical re-delivery of a clean record (an exact duplicate). Each injected record
carries a tag that learns its ``source_file``/``source_row`` when written; the answer key is read
from those tags.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from traceloom_pipelines.demo.catalog import UNKNOWN_MACHINE_STATUSES
from traceloom_pipelines.demo.clock import DAY, iso_ms, slash_timestamp
from traceloom_pipelines.demo.drops import LINE_FORMATS, EntityDrops, dumps

QUARANTINE_RATE = 0.005  # per defect class and entity, of the entity's clean records
DUPLICATE_RATE = 0.01
DUPLICATED_ENTITIES = (
    "erp/purchase_orders",
    "erp/work_orders",
    "mes/production_counts",
    "hr/attendance",
)

Mutation = Callable[[random.Random, dict], None]


def _set(path: str, value: object) -> Mutation:
    def mutate(_rng: random.Random, record: dict) -> None:
        *parents, leaf = path.split(".")
        node = record
        for key in parents:
            node = node[key]
        if value is _ABSENT:
            del node[leaf]
        else:
            node[leaf] = value(node[leaf]) if callable(value) else value

    return mutate


_ABSENT = object()


def _negative_line(rng: random.Random, record: dict) -> None:
    line = record["lineItems"][rng.randrange(len(record["lineItems"]))]
    line["lineQuantity"] = -line["lineQuantity"]


def _stale(field: str) -> Mutation:
    def mutate(rng: random.Random, record: dict) -> None:
        moment = _parse_ms(record[field]) - (3 * 365 + rng.randint(0, 60)) * DAY
        record[field] = iso_ms(moment)

    return mutate


def _bad_timestamp(field: str) -> Mutation:
    def mutate(rng: random.Random, record: dict) -> None:
        variant = rng.randrange(3)
        if variant == 0:
            record[field] = "2026-13-45T99:00:00Z"
        elif variant == 1:
            record[field] = "yesterday"
        else:
            record[field] = slash_timestamp(_parse_ms(record[field]))

    return mutate


def _parse_ms(text: str) -> int:
    from datetime import datetime

    return int(round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000))


def _unknown_machine(field: str, registry: list[str]) -> Mutation:
    known = set(registry)

    def mutate(rng: random.Random, record: dict) -> None:
        while True:
            candidate = f"M-{rng.randint(9001, 9999)}"
            if candidate not in known:
                record[field] = candidate
                return

    return mutate


def _unknown_status(rng: random.Random, record: dict) -> None:
    record["CurrentStatus"] = UNKNOWN_MACHINE_STATUSES[rng.randrange(len(UNKNOWN_MACHINE_STATUSES))]


MALFORMED = "malformed"


def quarantine_plan(registry: list[str]) -> list[tuple[str, str, list[str], Mutation | str]]:
    """(entity, defect class, failed checks, mutation) of every quarantine defect injected."""
    return [
        ("erp/purchase_orders", "missing_id", ["poId:not_nullable"], _set("poId", None)),
        (
            "erp/purchase_orders",
            "negative_quantity",
            ["quantity:non_negative"],
            _set("quantity", lambda v: -v),
        ),
        (
            "erp/purchase_orders",
            "negative_quantity",
            ["lineItems[].lineQuantity:non_negative"],
            _negative_line,
        ),
        ("erp/purchase_orders", "malformed_json", ["_record:valid_json"], MALFORMED),
        (
            "erp/work_orders",
            "negative_quantity",
            ["quantity_ordered:non_negative"],
            _set("work_order.quantity_ordered", lambda v: -v),
        ),
        (
            "erp/work_orders",
            "unparseable_timestamp",
            ["timestamp:is_timestamp"],
            _bad_timestamp("timestamp"),
        ),
        ("erp/work_orders", "malformed_json", ["_record:valid_json"], MALFORMED),
        (
            "mes/production_counts",
            "missing_id",
            ["machine_id:not_nullable"],
            _set("machine_id", _ABSENT),
        ),
        (
            "mes/production_counts",
            "negative_quantity",
            ["units_produced:non_negative"],
            _set("units_produced", lambda v: -v),
        ),
        (
            "mes/production_counts",
            "unparseable_timestamp",
            ["timestamp:is_timestamp"],
            _bad_timestamp("timestamp"),
        ),
        ("mes/production_counts", "stale_timestamp", ["timestamp:not_stale"], _stale("timestamp")),
        (
            "mes/production_counts",
            "unknown_machine_id",
            ["machine_id:known_machine_id"],
            _unknown_machine("machine_id", registry),
        ),
        ("mes/production_counts", "malformed_json", ["_record:valid_json"], MALFORMED),
        (
            "mes/machine_status",
            "stale_timestamp",
            ["LastUpdateTimestamp:not_stale"],
            _stale("LastUpdateTimestamp"),
        ),
        (
            "mes/machine_status",
            "unknown_machine_id",
            ["MachineId:known_machine_id"],
            _unknown_machine("MachineId", registry),
        ),
        ("mes/machine_status", "unknown_status", ["CurrentStatus:isin"], _unknown_status),
        ("hr/attendance", "missing_id", ["employee_id:not_nullable"], _set("employee_id", None)),
        (
            "hr/attendance",
            "unparseable_timestamp",
            ["timestamp:is_timestamp"],
            _bad_timestamp("timestamp"),
        ),
        ("hr/attendance", "malformed_json", ["_record:valid_json"], MALFORMED),
    ]


def inject_defects(
    rng: random.Random, entities: dict[str, EntityDrops], registry: list[str]
) -> list[dict]:
    """Insert quarantine defects and duplicates into ``entities`` (keyed ``system/entity``).

    Returns the tags of all injected records (filled with rows when the drops are written).
    """
    clean = {key: ent.rows_read() for key, ent in entities.items()}
    used: dict[str, set[str]] = {key: set() for key in entities}
    tags: list[dict] = []
    for key, defect, checks, mutation in quarantine_plan(registry):
        ent = entities[key]
        formats = ("jsonl",) if mutation == MALFORMED else LINE_FORMATS
        for _ in range(max(1, round(clean[key] * QUARANTINE_RATE))):
            di, _, text = ent.pick(rng, used[key], formats)
            if mutation == MALFORMED:
                bad = text[: len(text) - rng.randint(1, 8)]
            else:
                record = json.loads(text)
                mutation(rng, record)
                bad = dumps(record)
            tag = {
                "kind": "quarantine",
                "tenant_id": ent.tenant,
                "system": ent.system,
                "entity": ent.entity,
                "failed_checks": sorted(checks),
                "defect": defect,
            }
            items = ent.drops[di].items
            items.insert(rng.randint(0, len(items)), (bad, tag))
            tags.append(tag)
    for key in DUPLICATED_ENTITIES:
        ent = entities[key]
        for _ in range(max(1, round(clean[key] * DUPLICATE_RATE))):
            tags.append(_duplicate(rng, ent, used[key]))
    return tags


def _duplicate(rng: random.Random, ent: EntityDrops, used: set[str]) -> dict:
    """Re-deliver a clean record byte for byte, later in the same file or in one of the next two."""
    di, ii, text = ent.pick(rng, used)
    drop = ent.drops[di]
    item = drop.items[ii]
    if isinstance(item, tuple):
        original = item[1]
    else:
        original = {"kind": "original"}
        drop.items[ii] = (text, original)
    original["dup_source"] = True
    later = [j for j in range(di, min(di + 3, len(ent.drops))) if ent.drops[j].fmt in LINE_FORMATS]
    dj = later[rng.randrange(len(later))]
    target = ent.drops[dj].items
    position = rng.randint(ii + 1, len(target)) if dj == di else rng.randint(0, len(target))
    tag = {
        "kind": "duplicate",
        "tenant_id": ent.tenant,
        "system": ent.system,
        "entity": ent.entity,
        "of": original,
    }
    target.insert(position, (text, tag))
    return tag


def key_entries(tags: list[dict]) -> tuple[list[dict], list[dict]]:
    """Answer-key quarantine and duplicate entries from written tags."""
    quarantine, duplicates = [], []
    for tag in tags:
        base = {k: tag[k] for k in ("tenant_id", "system", "entity", "source_file", "source_row")}
        if tag["kind"] == "quarantine":
            quarantine.append(
                {**base, "failed_checks": tag["failed_checks"], "defect": tag["defect"]}
            )
        else:
            of = tag["of"]
            duplicates.append(
                {
                    **base,
                    "duplicate_of": {
                        "source_file": of["source_file"],
                        "source_row": of["source_row"],
                    },
                }
            )
    return quarantine, duplicates
