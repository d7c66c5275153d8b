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
and then its rest as one record that is not JSON (``_record:valid_json``); a ``.csv`` header
naming a column twice raises :class:`DuplicateHeaderError` (the loader quarantines the whole file
as ``_file:duplicate_header``).

Files still being appended (issue #12 §4, "only complete records are read"): the loader asks
:func:`complete_records_end` where a line-based file's last complete record ends and reads only
that far (``end`` of :func:`iter_records`), so a last line without its newline is left for the
next read instead of being quarantined.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
# A file or folder whose name is not UTF-8: it could not be recorded (``_source_file``) as text.
SKIP_NAME_NOT_UTF8 = "name_not_utf8"

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
# File types whose records are lines (a CSV record may span lines inside a quoted field): a
# file of these types that is still being appended may end with a record cut off mid-line.
# The shared readers can stop at a given byte offset (``end``) for these; custom readers cannot.
SHARED_LINE_SUFFIXES = (".jsonl", ".csv")
LINE_SUFFIXES = (".jsonl", ".csv", ".nmea", ".txt")
_SCAN_BYTES = 1 << 20


class DuplicateHeaderError(ValueError):
    """A ``.csv`` drop whose header names a column more than once: which of the values is meant
    cannot be told (``csv.DictReader`` would silently keep the last), so the loader quarantines
    the file as a whole (``_file:duplicate_header``, issue #12 §4 "nothing dropped silently").

    Attributes:
        columns: the duplicated names, in header order of their first occurrence.
    """

    def __init__(self, columns: tuple[str, ...]):
        self.columns = columns
        super().__init__(
            "CSV header names these columns more than once: " + ", ".join(map(repr, columns))
        )


def check_unique_header(header: list[str], key: Callable[[str], str] = str) -> None:
    """Raise :class:`DuplicateHeaderError` if two columns of a CSV ``header`` are the same column
    for the reader that reads it.

    ``key`` is the normalisation the reader applies to a header name before using it (identity
    for a reader keying records by the names as published, stripping and lower-casing for one
    that matches names that way); two names with the same key are one column named twice, and
    keeping either value would drop the other silently. Blank names count like any other.

    Raises:
        DuplicateHeaderError: some names repeat; ``columns`` lists each repeated name as
            published at its first occurrence, in header order. The loader quarantines the whole
            file as ``_file:duplicate_header`` (nothing of it lands).
    """
    first: dict[str, str] = {}  # normalised name -> the name at its first occurrence
    repeated: set[str] = set()
    for name in header:
        normalised = key(name)
        if normalised in first:
            repeated.add(normalised)
        else:
            first[normalised] = name
    if repeated:
        raise DuplicateHeaderError(tuple(name for k, name in first.items() if k in repeated))


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
        reason: :data:`SKIP_SYMLINK`, :data:`SKIP_INVALID_TENANT`, :data:`SKIP_OUTSIDE_ROOT` or
            :data:`SKIP_NAME_NOT_UTF8`.
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
    # unknown column → (1-based record ordinal, its first non-blank value), filled while the
    # file is read; a column that never has a value is absent
    first_values: dict[str, tuple[int, str]] = field(default_factory=dict)


def display_path(text: str) -> str:
    """``text`` (a path or folder name from the file system) as valid UTF-8 text: bytes that are
    not UTF-8 (kept by Python as lone surrogates, which DuckDB and JSON metadata refuse) become
    ``\\xNN`` escapes; everything else is kept as it is."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def list_drop_files(
    landing_root: Path, entity: SourceEntity, skipped: list[SkippedPath] | None = None
) -> list[DropFile]:
    """Files of ``entity`` for every tenant under ``landing_root``, sorted by relative path.

    Hidden files and files still being written (``*.tmp``, ``*.part`` …) are not listed.
    Symbolic links, files resolving outside ``landing_root``, tenant folders with an invalid
    name and files or sub-folders whose name is not UTF-8 are not listed either; they are
    reported (paths with not-UTF-8 bytes escaped, :func:`display_path`): appended to
    ``skipped`` when the caller passes a list (and reports them itself), else logged as
    warnings on ``traceloom.landing``.
    A tenant-level link or bad name is reported only when it holds this entity's folder.
    (``landing_root`` itself may be a link: paths are confined to its resolved location.)
    """
    found: list[DropFile] = []
    rejected: list[SkippedPath] = []
    if not landing_root.is_dir():
        return found
    root_real = Path(os.path.realpath(landing_root))

    def reject(path: Path, reason: str) -> None:
        rejected.append(
            SkippedPath(display_path(path.relative_to(landing_root).as_posix()), reason)
        )

    def walk(directory: Path, tenant_id: str) -> None:
        with os.scandir(directory) as entries:
            ordered = sorted(entries, key=lambda e: e.name)
        for entry in ordered:
            name = entry.name
            if name.startswith("."):
                continue
            path = Path(entry.path)
            if name != display_path(name):
                reject(path, SKIP_NAME_NOT_UTF8)
            elif entry.is_symlink():
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


class _Prefix(io.RawIOBase):
    """The first ``end`` bytes of a binary file (what a reader may read of a growing file)."""

    def __init__(self, raw: IO[bytes], end: int):
        self._raw = raw
        self._left = end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        data = self._raw.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _open_text(path: Path, newline: str | None = None, end: int | None = None) -> IO[str]:
    """``path`` as strict UTF-8 text (a leading BOM is dropped), without following a link;
    only its first ``end`` bytes when ``end`` is given (an offset just after a line feed, so no
    character is cut)."""
    if end is None:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            return open(fd, encoding="utf-8-sig", errors="strict", newline=newline)  # noqa: SIM115
        except BaseException:
            os.close(fd)
            raise
    raw = open_binary(path)
    return io.TextIOWrapper(
        io.BufferedReader(_Prefix(raw, end)), encoding="utf-8-sig", errors="strict", newline=newline
    )


def complete_records_end(path: Path, quoted: bool = False) -> int:
    """Byte offset just after the last complete record of a line-based file (0: none).

    A record is complete when its line ends with a line feed. With ``quoted`` (CSV, RFC 4180) a
    line feed inside a quoted field does not end a record: only a line feed preceded by an even
    number of ``"`` in the file counts (doubled quotes inside a field keep the count even), so a
    record whose quoted multi-line field is still being written is not complete even if the file
    ends with a line feed. A file ending with a complete record returns its size.

    Implements issue #12 §4: "a partially written last line is not quarantined while the file is
    still growing (only complete records are read)"; the loader calls it for files modified less
    than its settle time ago. Reads the file from the end (and, with ``quoted``, once through to
    count quotes); links are not followed.

    Raises:
        OSError: the file cannot be opened or read.
    """
    with open_binary(path) as handle:
        size = handle.seek(0, os.SEEK_END)
        quotes_total = 0
        if quoted:
            handle.seek(0)
            while block := handle.read(_SCAN_BYTES):
                quotes_total += block.count(b'"')
        quotes_after = 0  # quotes after the current position, scanning backwards
        position = size
        while position > 0:
            start = max(0, position - _SCAN_BYTES)
            handle.seek(start)
            block = handle.read(position - start)
            cut = len(block)
            while (newline := block.rfind(b"\n", 0, cut)) != -1:
                if quoted:
                    quotes_after += block.count(b'"', newline + 1, cut)
                if not quoted or (quotes_total - quotes_after) % 2 == 0:
                    return start + newline + 1
                cut = newline
            if quoted:
                quotes_after += block.count(b'"', 0, cut)
            position = start
    return 0


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


def _iter_jsonl(path: Path, envelope: str | None, end: int | None = None) -> Iterator[str]:
    with _open_text(path, end=end) as handle:
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


def iter_json_array_elements(text: str, start: int = 0) -> Iterator[tuple[bool, object]]:
    """Parse the JSON array at ``text[start:]`` element by element, salvaging a cut-off array.

    Yields ``(True, element)`` (the parsed value) for every complete element before the first
    one that does not parse (:meth:`json.JSONDecoder.raw_decode`), then ``(False, rest)`` once
    with the rest of the text — from that element, or from the end of the last element when the
    closing ``]`` is missing or followed by more text (possibly ``""``). A complete array followed
    by nothing but white space yields no rest. Text that is not an array at ``start`` (after
    white space) yields ``(False, text[start:])`` only. Nothing is lost: the elements and the
    rest cover the whole text from ``start``.

    The shared ``.json`` reader (:func:`iter_json_array_prefix`) and the DCSA reader
    (``sources/logistics/connector.py``) use it: "bad input loses nothing, good records still
    land" (issue #12 §4).

    Raises:
        RecursionError: an element nested deeper than Python's recursion limit.
    """
    position = _skip_whitespace(text, start)
    if not text.startswith("[", position):
        yield False, text[start:]  # not an array: all of it is one unreadable record
        return
    decoder = json.JSONDecoder()
    position = _skip_whitespace(text, position + 1)
    if not text.startswith("]", position):
        while True:
            try:
                element, end = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                yield False, text[position:]  # this element is cut off or not JSON: it and the rest
                return
            yield True, element
            position = _skip_whitespace(text, end)
            if not text.startswith(",", position):
                break
            position = _skip_whitespace(text, position + 1)
    if text.startswith("]", position):
        position = _skip_whitespace(text, position + 1)
        if position == len(text):
            return  # a complete array (not reached for text json.loads rejects)
    yield False, text[position:]  # no closing bracket (possibly empty), or text after the array


def iter_json_array_prefix(text: str, envelope: str | None = None) -> Iterator[str]:
    """Records of a ``.json`` text that is not valid JSON, salvaging a cut-off array.

    If ``text`` is a JSON array (``[`` after optional white space) it is read element by element
    (:func:`iter_json_array_elements`): every complete element before the first one that
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
    for parsed, value in iter_json_array_elements(text):
        if parsed:
            yield from _unwrap(value, envelope)
        else:
            yield str(value)


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


def _iter_csv(
    path: Path, entity: SourceEntity, notes: ReadNotes | None, end: int | None = None
) -> Iterator[str]:
    """Rows of a CSV drop as JSON objects keyed by the header (see :func:`iter_records`).

    Raises:
        DuplicateHeaderError: the header names a column more than once (before any row).
    """
    with _open_text(path, newline="", end=end) as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        check_unique_header(header)
        unknown: tuple[str, ...] = ()
        if notes is not None:
            known = contract_keys(entity)
            unknown = tuple(name for name in header if name not in known)
            notes.unknown_columns = unknown
        for ordinal, row in enumerate(reader, start=1):
            extra = row.pop(None, None)  # type: ignore[call-overload]
            if extra:
                row[EXTRA_VALUES_KEY] = extra
            if notes is not None:
                for name in unknown:
                    value = row.get(name)
                    if name not in notes.first_values and value is not None and value.strip():
                        notes.first_values[name] = (ordinal, value)
            yield _dumps(row)


def iter_records(
    path: Path, entity: SourceEntity, notes: ReadNotes | None = None, end: int | None = None
) -> Iterator[tuple[int, str]]:
    """Yield ``(source_row, record_json_text)`` for every record of one drop file.

    ``notes``, when given, is filled in with what the file showed besides its records (a CSV
    header's columns the contract does not read) before the first record is yielded, and the
    first value of each such column while the rows are read.

    ``end``: read only the file's first ``end`` bytes (an offset from
    :func:`complete_records_end`: the rest is a record still being written). Only the shared
    readers of :data:`SHARED_LINE_SUFFIXES` accept it.

    Raises:
        ValueError: for a file type the entity does not accept, or ``end`` for a file that is
            not one of :data:`SHARED_LINE_SUFFIXES` read by a shared reader.
        DuplicateHeaderError: for a ``.csv`` header naming a column twice.
        FileEncodingError, UnicodeDecodeError: for a file that is not UTF-8 (shared readers).
        RecursionError: for a ``.json`` document nested deeper than Python's recursion limit.
        OSError: if the file cannot be opened (a link swapped in after listing: ``O_NOFOLLOW``).
    """
    suffix = path.suffix.lower()
    if end is not None and (entity.reader is not None or suffix not in SHARED_LINE_SUFFIXES):
        raise ValueError(f"{entity.system}/{entity.entity}: cannot read part of {path}")
    if entity.reader is not None:
        yield from entity.reader(path)
        return
    if suffix == ".jsonl":
        texts = _iter_jsonl(path, entity.envelope, end)
    elif suffix == ".json":
        texts = _iter_json(path, entity.envelope)
    elif suffix == ".csv":
        texts = _iter_csv(path, entity, notes, end)
    else:
        raise ValueError(f"{entity.system}/{entity.entity} does not read {suffix} files: {path}")
    check_utf8_start(path)
    yield from enumerate(texts, start=1)
