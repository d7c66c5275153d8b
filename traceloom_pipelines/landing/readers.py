"""Drop-folder readers: list a source entity's files per tenant and turn each file into records.

A *record* here is ``(source_row, text)``: the 1-based ordinal of the record in its file and the
record's JSON text, before any validation (docs/landing_contract.md). Readers never drop input:
text that is not JSON is still yielded, so that validation quarantines it with a reason.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from traceloom_pipelines.landing.entity import SourceEntity

# Files being written by an uploader are named like this until renamed into place.
_IN_PROGRESS_MARKERS = (".tmp", ".part", ".partial", ".crdownload")


@dataclass(frozen=True)
class DropFile:
    """One file in a drop folder.

    Attributes:
        tenant_id: the tenant folder it was found under.
        path: absolute path.
        relative_path: path relative to the landing root, ``/``-separated
            (stored as ``_source_file``).
    """

    tenant_id: str
    path: Path
    relative_path: str


def list_drop_files(landing_root: Path, entity: SourceEntity) -> list[DropFile]:
    """Files of ``entity`` for every tenant under ``landing_root``, sorted by relative path.

    Hidden files and files still being written (``*.tmp``, ``*.part`` …) are not listed.
    """
    found: list[DropFile] = []
    if not landing_root.is_dir():
        return found
    for tenant_dir in sorted(p for p in landing_root.iterdir() if p.is_dir()):
        folder = tenant_dir / entity.system / entity.entity
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            name = path.name
            if not path.is_file() or name.startswith("."):
                continue
            if (
                name.endswith(_IN_PROGRESS_MARKERS)
                or path.suffix.lower() not in entity.file_suffixes
            ):
                continue
            found.append(DropFile(tenant_dir.name, path, path.relative_to(landing_root).as_posix()))
    return sorted(found, key=lambda f: f.relative_path)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _unwrap(payload: object, envelope: str | None) -> Iterator[str]:
    """Records of one payload: the envelope's list items, or the payload itself."""
    if envelope and isinstance(payload, dict) and isinstance(payload.get(envelope), list):
        for record in payload[envelope]:
            yield _dumps(record)
    else:
        yield _dumps(payload)


def _iter_jsonl(path: Path, envelope: str | None) -> Iterator[str]:
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            text = line.strip()
            if not text:
                continue
            if envelope is None:
                yield text  # parsed once, later, by the validator
                continue
            try:
                payload = json.loads(text)
            except json.JSONDecodeError:
                yield text
                continue
            yield from _unwrap(payload, envelope)


def _iter_json(path: Path, envelope: str | None) -> Iterator[str]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        yield text  # the whole file is one unreadable record
        return
    payloads = document if isinstance(document, list) else [document]
    for payload in payloads:
        yield from _unwrap(payload, envelope)


def _iter_csv(path: Path) -> Iterator[str]:
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as handle:
        for row in csv.DictReader(handle):
            extra = row.pop(None, None)  # type: ignore[call-overload]
            if extra:
                row["_extra_columns"] = extra
            yield _dumps(row)


def iter_records(path: Path, entity: SourceEntity) -> Iterator[tuple[int, str]]:
    """Yield ``(source_row, record_json_text)`` for every record of one drop file.

    Raises:
        ValueError: for a file type the entity does not accept.
    """
    if entity.reader is not None:
        yield from entity.reader(path)
        return
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        texts = _iter_jsonl(path, entity.envelope)
    elif suffix == ".json":
        texts = _iter_json(path, entity.envelope)
    elif suffix == ".csv":
        texts = _iter_csv(path)
    else:
        raise ValueError(f"{entity.system}/{entity.entity} does not read {suffix} files: {path}")
    yield from enumerate(texts, start=1)
