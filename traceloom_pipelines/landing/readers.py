"""Drop-folder readers: list a source entity's files per tenant and turn each file into records.

A *record* here is ``(source_row, text)``: the 1-based ordinal of the record in its file and the
record's JSON text, before any validation (docs/landing_contract.md). Readers never drop input:
text that is not JSON is still yielded, so that validation quarantines it with a reason.

Confinement: nothing outside the landing root is read. :func:`list_drop_files` never follows a
symbolic link (a linked file, or a linked tenant/system/entity folder or sub-folder), lists no
file whose resolved path lies outside the landing root, and lists no tenant folder whose name
does not match :data:`~traceloom_pipelines.landing.drops.FOLDER_NAME` (the gateway's tenant id
pattern); each such path is reported as a :class:`SkippedPath`. The shared readers open files
with ``O_NOFOLLOW`` and decode them as strict UTF-8 (a BOM is allowed): a UTF-16/32 file or
bytes that do not decode raise :class:`FileEncodingError` / :class:`UnicodeDecodeError`, which
the loader quarantines as the whole file (``_file:encoding``).

What does not fit is kept visible (issue #12): a CSV row with more values than the header keeps
the surplus under :data:`EXTRA_VALUES_KEY` (the loader quarantines it as
``_record:extra_values``), header columns no contract field reads are reported through
:class:`ReadNotes`, and a ``.json`` array cut off mid-way yields its complete leading elements
and then its rest as one record that is not JSON (``_record:valid_json``).
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from traceloom_pipelines.landing.drops import is_folder_name
from traceloom_pipelines.landing.entity import SourceEntity

log = logging.getLogger("traceloom.landing")

# Files being written by an uploader are named like this until renamed into place.
_IN_PROGRESS_MARKERS = (".tmp", ".part", ".partial", ".crdownload")

# Why a path under the landing root is not read (SkippedPath.reason).
SKIP_SYMLINK = "symlink"
SKIP_INVALID_TENANT = "invalid_tenant_name"
SKIP_OUTSIDE_ROOT = "outside_landing_root"

# Byte order marks of encodings that are not UTF-8 (UTF-32 LE first: it starts with UTF-16 LE's).
_FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 LE"),
    (codecs.BOM_UTF32_BE, "UTF-32 BE"),
    (codecs.BOM_UTF16_LE, "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "UTF-16 BE"),
)
_SNIFF_BYTES = 4096
# Where a reader keeps the values of a row beyond its header (a CSV row with more fields than
# header columns): every record carrying this key is quarantined (``_record:extra_values``).
EXTRA_VALUES_KEY = "_extra_columns"
# JSON white space (what may stand between the tokens of an array).
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")


class FileEncodingError(UnicodeError):
    """A drop file that is not UTF-8 text: a UTF-16/32 byte order mark, or NUL bytes near its
    start (UTF-16/32 without a byte order mark)."""


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


@dataclass(frozen=True)
class SkippedPath:
    """A path under the landing root that is never read nor landed, and why.

    Attributes:
        relative_path: path relative to the landing root, ``/``-separated, as found (the link
            itself, not its target).
        reason: :data:`SKIP_SYMLINK`, :data:`SKIP_INVALID_TENANT` or :data:`SKIP_OUTSIDE_ROOT`.
    """

    relative_path: str
    reason: str


@dataclass
class ReadNotes:
    """What reading one drop file showed besides its records; filled in while it is read.

    Attributes:
        unknown_columns: header columns of a ``.csv`` file that no contract field reads, in
            header order (their values are not landed; the loader reports them per file). Empty
            for other files and for readers of custom formats.
    """

    unknown_columns: tuple[str, ...] = ()


def list_drop_files(
    landing_root: Path, entity: SourceEntity, skipped: list[SkippedPath] | None = None
) -> list[DropFile]:
    """Files of ``entity`` for every tenant under ``landing_root``, sorted by relative path.

    Hidden files and files still being written (``*.tmp``, ``*.part`` …) are not listed.
    Symbolic links, files resolving outside ``landing_root`` and tenant folders with an invalid
    name are not listed either; they are reported: appended to ``skipped`` when the caller
    passes a list (and reports them itself), else logged as warnings on ``traceloom.landing``.
    A tenant-level link or bad name is reported only when it holds this entity's folder.
    (``landing_root`` itself may be a link: paths are confined to its resolved location.)
    """
    found: list[DropFile] = []
    rejected: list[SkippedPath] = []
    if not landing_root.is_dir():
        return found
    root_real = Path(os.path.realpath(landing_root))

    def reject(path: Path, reason: str) -> None:
        rejected.append(SkippedPath(path.relative_to(landing_root).as_posix(), reason))

    def walk(directory: Path, tenant_id: str) -> None:
        with os.scandir(directory) as entries:
            ordered = sorted(entries, key=lambda e: e.name)
        for entry in ordered:
            name = entry.name
            if name.startswith("."):
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                reject(path, SKIP_SYMLINK)
            elif entry.is_dir(follow_symlinks=False):
                walk(path, tenant_id)
            elif (
                entry.is_file(follow_symlinks=False)
                and not name.endswith(_IN_PROGRESS_MARKERS)
                and path.suffix.lower() in entity.file_suffixes
            ):
                if not Path(os.path.realpath(path)).is_relative_to(root_real):
                    reject(path, SKIP_OUTSIDE_ROOT)
                    continue
                found.append(DropFile(tenant_id, path, path.relative_to(landing_root).as_posix()))

    for tenant_dir in sorted(landing_root.iterdir()):
        system_dir = tenant_dir / entity.system
        folder = system_dir / entity.entity
        # Only stat calls here; a folder that does not hold this entity is not its concern.
        if not os.path.isdir(folder):
            continue
        if tenant_dir.is_symlink():
            reject(tenant_dir, SKIP_SYMLINK)
        elif not is_folder_name(tenant_dir.name):
            reject(tenant_dir, SKIP_INVALID_TENANT)
        elif system_dir.is_symlink():
            reject(system_dir, SKIP_SYMLINK)
        elif folder.is_symlink():
            reject(folder, SKIP_SYMLINK)
        else:
            walk(folder, tenant_dir.name)
    if skipped is not None:
        skipped.extend(rejected)
    else:
        for item in rejected:
            log.warning(
                "landing skips %s (%s): not read, not landed", item.relative_path, item.reason
            )
    return sorted(found, key=lambda f: f.relative_path)


def open_binary(path: Path) -> IO[bytes]:
    """``path`` opened for reading without following a symbolic link (``O_NOFOLLOW``)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        return open(fd, "rb")  # noqa: SIM115 - the caller closes it
    except BaseException:
        os.close(fd)
        raise


def _open_text(path: Path, newline: str | None = None) -> IO[str]:
    """``path`` as strict UTF-8 text (a leading BOM is dropped), without following a link."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        return open(fd, encoding="utf-8-sig", errors="strict", newline=newline)  # noqa: SIM115
    except BaseException:
        os.close(fd)
        raise


def check_utf8_start(path: Path) -> None:
    """Raise :class:`FileEncodingError` if ``path`` starts like UTF-16/32 text.

    Looks at the first 4 KiB: a UTF-16/32 byte order mark, or any NUL byte (UTF-16/32 without
    a byte order mark; NUL is not valid inside JSON or CSV text). Later bytes that are not UTF-8
    raise :class:`UnicodeDecodeError` while reading.
    """
    with open_binary(path) as handle:
        head = handle.read(_SNIFF_BYTES)
    for bom, name in _FOREIGN_BOMS:
        if head.startswith(bom):
            raise FileEncodingError(f"{name} byte order mark; drop files are UTF-8")
    if b"\x00" in head:
        raise FileEncodingError(
            "NUL bytes (UTF-16/32 without a byte order mark?); drop files are UTF-8"
        )


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
    with _open_text(path) as handle:
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


def _skip_whitespace(text: str, position: int) -> int:
    match = _JSON_WHITESPACE.match(text, position)
    return match.end() if match else position


def iter_json_array_prefix(text: str, envelope: str | None = None) -> Iterator[str]:
    """Records of a ``.json`` text that is not valid JSON, salvaging a cut-off array.

    If ``text`` is a JSON array (``[`` after optional white space) it is read element by element
    (:meth:`json.JSONDecoder.raw_decode`): every complete element before the first one that
    does not parse is yielded as record text (envelope payloads unwrapped, as for a valid file),
    then the rest of the text — from that element, or from the end of the last element when the
    closing ``]`` is missing or followed by more text — as one last record. That record is not
    JSON (the loader quarantines it as ``_record:valid_json``, its text kept), so a truncated
    array ``[{…}, {…}, {"a": 1, "b"`` lands its two records and quarantines ``{"a": 1, "b"``.
    Any other text is yielded whole, as one record.

    Nothing is lost: the yielded texts cover every element and the tail. Implements the
    landing rule "bad input loses nothing, good records still land" (issue #12).

    Raises:
        RecursionError: an element nested deeper than Python's recursion limit.
    """
    position = _skip_whitespace(text, 0)
    if not text.startswith("[", position):
        yield text  # not an array: the whole file is one unreadable record
        return
    decoder = json.JSONDecoder()
    position = _skip_whitespace(text, position + 1)
    if not text.startswith("]", position):
        while True:
            try:
                payload, end = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                yield text[position:]  # this element is cut off or not JSON: it and the rest
                return
            yield from _unwrap(payload, envelope)
            position = _skip_whitespace(text, end)
            if not text.startswith(",", position):
                break
            position = _skip_whitespace(text, position + 1)
    if text.startswith("]", position):
        position = _skip_whitespace(text, position + 1)
        if position == len(text):
            return  # a complete array (not reached for text json.loads rejects)
    yield text[position:]  # no closing bracket (possibly empty), or text after the array


def _iter_json(path: Path, envelope: str | None) -> Iterator[str]:
    with _open_text(path) as handle:
        text = handle.read()
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        yield from iter_json_array_prefix(text, envelope)
        return
    payloads = document if isinstance(document, list) else [document]
    for payload in payloads:
        yield from _unwrap(payload, envelope)


def contract_keys(entity: SourceEntity) -> frozenset[str]:
    """Top-level record keys the entity's contract reads: the first key of every field's JSON
    path (``$.routeTemplate.ports`` → ``routeTemplate``) and of every child array. For CSV
    drops these are the header columns that land."""
    paths = [path for path, _ in entity.fields.values()]
    paths += ["$." + child.array_key for child in entity.children]
    return frozenset(re.split(r"[.\[]", p.removeprefix("$."), maxsplit=1)[0] for p in paths)


def _iter_csv(path: Path, entity: SourceEntity, notes: ReadNotes | None) -> Iterator[str]:
    with _open_text(path, newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        if notes is not None:
            known = contract_keys(entity)
            notes.unknown_columns = tuple(name for name in header if name not in known)
        for row in reader:
            extra = row.pop(None, None)  # type: ignore[call-overload]
            if extra:
                row[EXTRA_VALUES_KEY] = extra
            yield _dumps(row)


def iter_records(
    path: Path, entity: SourceEntity, notes: ReadNotes | None = None
) -> Iterator[tuple[int, str]]:
    """Yield ``(source_row, record_json_text)`` for every record of one drop file.

    ``notes``, when given, is filled in with what the file showed besides its records (a CSV
    header's columns the contract does not read) before the first record is yielded.

    Raises:
        ValueError: for a file type the entity does not accept.
        FileEncodingError, UnicodeDecodeError: for a file that is not UTF-8 (shared readers).
        RecursionError: for a ``.json`` document nested deeper than Python's recursion limit.
        OSError: if the file cannot be opened (a link swapped in after listing: ``O_NOFOLLOW``).
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
        texts = _iter_csv(path, entity, notes)
    else:
        raise ValueError(f"{entity.system}/{entity.entity} does not read {suffix} files: {path}")
    check_utf8_start(path)
    yield from enumerate(texts, start=1)
