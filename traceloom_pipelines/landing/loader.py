"""Land one source entity: read drop files in batches, validate, quarantine, write to DuckDB.

For every file: records are read in chunks (memory does not grow with file size), exact
duplicates are skipped by record hash, every record is validated against the entity's pandera
contract (lazy: all failures collected), invalid records go to ``audit.quarantine`` with their
failed checks, valid ones are cast and appended to ``raw.<system>__<entity>`` (children to their
child tables). One file is one batch with its own row in ``audit.batches``; consecutive small
files of a tenant share one lake transaction, i.e. one snapshot (all land or none do); a file
already recorded with the same sha256 is skipped, so replaying a drop changes nothing.
Invariant per batch: ``rows_read = rows_landed + rows_quarantined + rows_duplicate``.

Faults stay small (issue #12): a file whose reading raises (not UTF-8, nested deeper than the
recursion limit, unreadable) is quarantined as one row for the whole file (``_file:encoding`` or
``_file:unreadable``, the error class and message in ``reason``), gets its batch row like any
other file (so it is not read again until it changes) and every other file of its group, and
every other group and tenant, still lands. Paths :func:`list_drop_files` refuses (links, bad
tenant folder names) are reported in :attr:`LandingResult.paths_skipped` (the asset logs them
as warnings and lists them in its metadata).

Nothing is dropped silently (issue #12): a CSV row with more values than its header is
quarantined as ``_record:extra_values``; header columns the contract does not read are reported
per file in :attr:`LandingResult.unknown_columns`; every field of every record (and child row)
is checked for control characters (``<field>:no_control_characters``) and its length
(``<field>:max_length``), see :func:`~traceloom_pipelines.landing.checks.text_failures`.
Errors writing to the lake still fail the group as a whole (nothing of it is committed).

What the lake keeps of it (issue #12 §3, §4), both idempotent (a rerun adds no second row):

- ``audit.skipped_paths``: every path :func:`list_drop_files` refused, once per entity, path
  and reason (:meth:`EntityLoader.record_skipped_paths`); the asset's ``no_paths_skipped``
  check fails (error) in every run that skipped one.
- ``audit.schema_drift``: every CSV header column the contract does not read, once per file
  and column, with the batch that first saw it and the column's first non-blank value
  (written in the file's own transaction); the asset's ``no_schema_drift`` check warns.

A CSV header naming a column twice quarantines its file as a whole (``_file:duplicate_header``,
the columns in ``reason``).

Files still being written (issue #12 §4): a line-based file (``.jsonl``, ``.csv``; custom
readers' ``.nmea``, ``.txt``) modified less than ``settle_seconds`` ago (the ingestion assets
pass :func:`settle_seconds_from_env`: ``$TRACELOOM_LANDING_SETTLE_SECONDS``, default
:data:`DEFAULT_SETTLE_SECONDS`; direct calls default to 0, reading every file whole) is read
only up to the
end of its last complete record (:func:`~traceloom_pipelines.landing.readers.
complete_records_end`); the rest — a last line without its line feed, a CSV record inside an
open quoted field — is left for a later run, and the batch records the sha256 and size of what
was read. When the file changes (the record is completed) or settles, its sha256 no longer
matches, so it is read again: the records already landed are duplicates, the completed record
lands once and nothing of it is quarantined; a tail that is still unterminated once the file
has settled is read as a record (quarantined if broken, so nothing is lost). A file with no
complete record yet, and a custom reader's file with an unterminated tail (custom readers
cannot stop part-way), wait as a whole: no batch, listed in :attr:`LandingResult.files_waiting`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl

from traceloom_pipelines import lake
from traceloom_pipelines.landing.checks import cast_expr, known_values, text_failures
from traceloom_pipelines.landing.drops import is_folder_name
from traceloom_pipelines.landing.entity import ChildTable, SourceEntity
from traceloom_pipelines.landing.readers import (
    EXTRA_VALUES_KEY,
    LINE_SUFFIXES,
    SHARED_LINE_SUFFIXES,
    DropFile,
    DuplicateHeaderError,
    ReadNotes,
    SkippedPath,
    complete_records_end,
    display_path,
    iter_records,
    list_drop_files,
    open_binary,
)
from traceloom_pipelines.landing.warehouse import (
    child_table_columns,
    ensure_tables,
    quote,
    raw_table_columns,
    run,
    table_exists,
)

DEFAULT_CHUNK_ROWS = 100_000
# Small drop files are landed together up to this many bytes per transaction. Uncommitted rows
# stay in memory until commit, so this bounds peak memory (measured: 64 MiB groups peaked at
# 773 MiB for 1M MES counts, 8 MiB groups at 437 MiB, no slower).
DEFAULT_GROUP_BYTES = 8 * 2**20
INVALID_JSON = "_record:valid_json"
# A record nested deeper than Python's recursion limit (its child arrays cannot be read).
NESTING_DEPTH = "_record:nesting_depth"
# A whole file quarantined as one row (source_row 0): not UTF-8, or reading it raised.
FILE_ENCODING = "_file:encoding"
FILE_UNREADABLE = "_file:unreadable"
# A CSV file whose header names a column twice (which value is meant cannot be told).
FILE_DUPLICATE_HEADER = "_file:duplicate_header"
# A record with values beyond its file's header (a CSV row with more fields than columns).
EXTRA_VALUES = "_record:extra_values"
_EXTRA_VALUES_COLUMN = "__extra_values"
_ERROR_MESSAGE_CHARS = 300
# A line-based file modified less than this many seconds ago may still be being appended: only
# its complete records are read (see the module docstring). The environment variable overrides.
DEFAULT_SETTLE_SECONDS = 5.0
SETTLE_SECONDS_ENV = "TRACELOOM_LANDING_SETTLE_SECONDS"
# audit.skipped_paths.tenant_id of a path under a tenant folder whose name is not a tenant id
# (cannot be a tenant: tenant ids start with a letter or digit).
INVALID_TENANT = "_invalid"
# Longest first value kept in audit.schema_drift (characters).
DRIFT_VALUE_CHARS = 1_000


@dataclass
class LandingCounts:
    """Row counts of one batch (file) or a sum of batches."""

    rows_read: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    child_rows_landed: int = 0
    reasons: Counter = field(default_factory=Counter)  # failed check → quarantined rows

    def add(self, other: LandingCounts) -> None:
        self.rows_read += other.rows_read
        self.rows_landed += other.rows_landed
        self.rows_quarantined += other.rows_quarantined
        self.rows_duplicate += other.rows_duplicate
        self.child_rows_landed += other.child_rows_landed
        self.reasons.update(other.reasons)

    @property
    def balanced(self) -> bool:
        """True when every row read is accounted for."""
        return self.rows_read == self.rows_landed + self.rows_quarantined + self.rows_duplicate


@dataclass
class LandingResult:
    """What one landing run of an entity did, per tenant and in total."""

    entity: SourceEntity
    files_ingested: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)  # already landed, same sha256
    paths_skipped: list[SkippedPath] = field(default_factory=list)  # links, bad tenant names
    per_tenant: dict[str, LandingCounts] = field(default_factory=dict)
    # ingested file (relative path) → its CSV header columns no contract field reads (not
    # landed); only files that have any
    unknown_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # files still being written: read up to their last complete record, or (nothing complete
    # yet, or a custom reader's file) not read at all in this run; read again later
    files_waiting: list[str] = field(default_factory=list)

    @property
    def total(self) -> LandingCounts:
        total = LandingCounts()
        for counts in self.per_tenant.values():
            total.add(counts)
        return total


def _size(path: Path) -> int:
    """Size of ``path`` in bytes (its link's, never a target's); 0 if it cannot be stat'ed."""
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _sha256(path: Path, end: int | None = None) -> str:
    """Hex sha256 of ``path``'s content, or of its first ``end`` bytes."""
    digest = hashlib.sha256()
    left = end
    with open_binary(path) as handle:
        while left is None or left > 0:
            block = handle.read(1 << 20 if left is None else min(1 << 20, left))
            if not block:
                break
            digest.update(block)
            if left is not None:
                left -= len(block)
    return digest.hexdigest()


def settle_seconds_from_env() -> float:
    """``$TRACELOOM_LANDING_SETTLE_SECONDS`` (seconds, ≥ 0), else :data:`DEFAULT_SETTLE_SECONDS`.

    Raises:
        ValueError: the variable is set to something that is not a non-negative number.
    """
    text = os.environ.get(SETTLE_SECONDS_ENV, "").strip()
    if not text:
        return DEFAULT_SETTLE_SECONDS
    value = float(text)
    if not value >= 0:
        raise ValueError(f"{SETTLE_SECONDS_ENV} must be a number of seconds >= 0, got {text!r}")
    return value


@dataclass
class _PendingFile:
    """A drop file not landed before, with the counts it accumulates while landing."""

    drop: DropFile
    sha: str
    batch_id: str
    counts: LandingCounts = field(default_factory=LandingCounts)
    failure: BaseException | None = None  # why reading it raised: the file lands as one row
    unknown_columns: tuple[str, ...] = ()  # CSV header columns the contract does not read
    # unknown column → (record ordinal, first non-blank value)
    first_values: dict[str, tuple[int, str]] = field(default_factory=dict)
    end: int | None = None  # read only this many bytes (the file is still being written)

    @property
    def file_bytes(self) -> int:
        """Bytes of the file this batch reads (``audit.batches.file_bytes``)."""
        return _size(self.drop.path) if self.end is None else self.end


class _ReadFailed(Exception):
    """Reading the group's file ``index`` raised after some of its records were yielded."""

    def __init__(self, index: int, error: Exception):
        super().__init__(f"file {index} of the group: {type(error).__name__}")
        self.index = index
        self.error = error


def readable_end(
    drop: DropFile, entity: SourceEntity, settle_seconds: float, now: float
) -> tuple[int | None, str]:
    """How much of ``drop`` (a file of ``entity``) to read now: ``(end, state)``.

    ``end`` is the byte offset to stop at (None: the whole file). ``state`` is
    ``"complete"`` (nothing held back), ``"tail"`` (read up to ``end``; the unterminated
    rest waits) or ``"wait"`` (read nothing now: no complete record yet, or a custom
    reader's file with an unterminated tail). Only line-based files modified less than
    ``settle_seconds`` before ``now`` (UNIX seconds) are limited; a young file read by a
    shared reader is always read up to ``end`` only, so bytes appended meanwhile wait too.

    Raises:
        OSError: the file cannot be stat'ed or read (FileNotFoundError: it is gone).
    """
    suffix = drop.path.suffix.lower()
    if settle_seconds <= 0 or suffix not in LINE_SUFFIXES:
        return None, "complete"
    if now - drop.path.lstat().st_mtime >= settle_seconds:
        return None, "complete"
    end = complete_records_end(drop.path, quoted=suffix == ".csv")
    unterminated = end < _size(drop.path)
    if entity.reader is not None or suffix not in SHARED_LINE_SUFFIXES:
        return None, "wait" if unterminated else "complete"
    if end == 0:
        return None, "wait"
    return end, "tail" if unterminated else "complete"


def drop_signature(
    drop: DropFile, entity: SourceEntity, settle_seconds: float, now: float
) -> tuple[int | None, str, str | None, OSError | None]:
    """``(end, state, sha256, error)`` of ``drop`` as landing sees it now: the bytes it would
    read (:func:`readable_end`) and their sha256 hex (None when ``state`` is ``"wait"``); an
    unreadable file (no permission …) has the sha ``unreadable:<error class>`` and the error.

    Raises:
        FileNotFoundError: the file is gone since it was listed.
    """
    try:
        end, state = readable_end(drop, entity, settle_seconds, now)
        if state == "wait":
            return end, state, None, None
        return end, state, _sha256(drop.path, end), None
    except FileNotFoundError:
        raise
    except OSError as error:  # e.g. no read permission: one quarantine row when landed
        return None, "complete", f"unreadable:{type(error).__name__}", error


def file_failure(error: BaseException) -> tuple[str, str]:
    """``(failed check, reason)`` of a file whose reading raised ``error``.

    ``failed check`` is :data:`FILE_ENCODING` for a file that is not UTF-8,
    :data:`FILE_DUPLICATE_HEADER` for a CSV header naming a column twice, else
    :data:`FILE_UNREADABLE`; ``reason`` adds the error class and its message (at most
    300 characters), e.g. ``_file:unreadable: RecursionError: maximum recursion depth …``.
    """
    if isinstance(error, UnicodeError):
        check = FILE_ENCODING
    elif isinstance(error, DuplicateHeaderError):
        check = FILE_DUPLICATE_HEADER
    else:
        check = FILE_UNREADABLE
    message = " ".join(str(error).split())[:_ERROR_MESSAGE_CHARS]
    return check, f"{check}: {type(error).__name__}" + (f": {message}" if message else "")


def _groups(pending: list[_PendingFile], group_bytes: int) -> Iterator[list[_PendingFile]]:
    """Consecutive files of one tenant, at most ``group_bytes`` together (a bigger file alone)."""
    group: list[_PendingFile] = []
    size = 0
    for item in pending:
        item_bytes = _size(item.drop.path)
        if group and (
            item.drop.tenant_id != group[0].drop.tenant_id or size + item_bytes > group_bytes
        ):
            yield group
            group, size = [], 0
        group.append(item)
        size += item_bytes
    if group:
        yield group


def _chunks(records: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def extract_text_fields(
    con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, paths: dict[str, str]
) -> pl.DataFrame:
    """Extract each field's text by JSON path from ``frame['_record']`` (parsed once per record).

    Returns ``frame`` plus one ``pl.String`` column per field, text as published (not trimmed);
    values that are empty or only white space become null.
    ``_record`` must be valid JSON (callers route invalid JSON to quarantine first).
    """
    names = list(paths)
    if not names:
        return frame
    path_list = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths.values()) + "]"
    con.register("_extract_input", frame.select("_record"))
    try:
        values = con.sql(
            f"select json_extract_string(_record, {path_list}) as v from _extract_input"
        ).pl()
    finally:
        con.unregister("_extract_input")
    extracted = values.select(
        [
            pl.when(pl.col("v").list.get(i).str.strip_chars() == "")
            .then(None)
            .otherwise(pl.col("v").list.get(i))
            .alias(name)
            for i, name in enumerate(names)
        ]
    )
    return pl.concat([frame, extracted], how="horizontal")


def failed_checks(frame: pl.DataFrame, schema: pa.DataFrameSchema) -> dict[int, list[str]]:
    """Validate ``frame`` (text columns) lazily; return row position → sorted ``column:check``.

    Raises:
        RuntimeError: on a failure that is not tied to a row (a contract/frame mismatch, a bug).
    """
    try:
        schema.validate(frame.select(list(schema.columns)), lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        unplaced = cases.filter(pl.col("index").is_null())
        if unplaced.height:
            raise RuntimeError(f"contract {schema.name} failed as a whole: {unplaced}") from errors
        by_row: dict[int, set[str]] = {}
        for index, column, check in cases.select("index", "column", "check").iter_rows():
            by_row.setdefault(int(index), set()).add(f"{column}:{check}")
        return {row: sorted(checks) for row, checks in by_row.items()}
    return {}


def _child_frames(records: pl.DataFrame, child: ChildTable) -> tuple[pl.DataFrame, list[int]]:
    """Explode each record's child array into rows ``_parent_pos, _child_index, _record``.

    Returns the child rows and the positions of records nested too deeply to be parsed by
    Python (RecursionError; they have no child rows and are quarantined as
    :data:`NESTING_DEPTH`).
    """
    keys = child.array_key.split(".")
    parents, indexes, texts = [], [], []
    too_deep: list[int] = []
    for position, text in enumerate(records["_record"]):
        try:
            node = json.loads(text)
        except RecursionError:
            too_deep.append(position)
            continue
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, list):
            continue
        for index, element in enumerate(node):
            parents.append(position)
            indexes.append(index)
            texts.append(json.dumps(element, separators=(",", ":"), ensure_ascii=False))
    frame = pl.DataFrame(
        {"_parent_pos": parents, "_child_index": indexes, "_record": texts},
        schema={"_parent_pos": pl.Int64, "_child_index": pl.Int32, "_record": pl.String},
    )
    return frame, too_deep


def _merge(reasons: dict[int, list[str]], more: dict[int, list[str]]) -> None:
    """Add ``more`` (row position → failed checks) into ``reasons``, each list kept sorted."""
    for position, checks in more.items():
        reasons[position] = sorted({*reasons.get(position, []), *checks})


class EntityLoader:
    """Lands the drop files of one entity into an open, writable warehouse connection.

    Args:
        con: writable DuckDB connection (the caller closes it).
        entity: the source entity.
        run_id: Dagster run id (or any label) recorded in ``audit.batches``.
        chunk_rows: records validated per chunk; bounds memory and pandera's lazy-report cost.
        group_bytes: small files of one tenant are landed together up to this size.
        log: callable receiving one progress line per landed group of files.
        settle_seconds: a line-based file modified less than this many seconds ago is read only
            up to its last complete record (0, the default: every file is read whole; the
            ingestion assets pass :func:`settle_seconds_from_env`).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        entity: SourceEntity,
        run_id: str,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        log: Callable[[str], None] | None = None,
        group_bytes: int = DEFAULT_GROUP_BYTES,
        settle_seconds: float = 0.0,
    ):
        self.con = con
        self.entity = entity
        self.run_id = run_id
        self.chunk_rows = chunk_rows
        self.group_bytes = group_bytes
        self.settle_seconds = settle_seconds
        self.log = log or (lambda _message: None)
        ensure_tables(con, entity)
        self._raw_columns = list(raw_table_columns(entity))
        self._schemas: dict[str, pa.DataFrameSchema] = {}

    # -- reference data -------------------------------------------------------------------
    def _schema_for(self, tenant_id: str) -> pa.DataFrameSchema:
        """The contract with the tenant's reference checks (known machine ids …) added."""
        if tenant_id in self._schemas:
            return self._schemas[tenant_id]
        schema = self.entity.schema
        for ref in self.entity.reference_checks:
            exists = table_exists(self.con, "raw", ref.ref_table)
            known: list[str] = []
            if exists:
                known = [
                    row[0]
                    for row in run(
                        self.con,
                        f"select distinct {quote(ref.ref_column)} from raw.{quote(ref.ref_table)} "
                        "where tenant_id = ?",
                        [tenant_id],
                    )
                ]
            column = schema.columns[ref.column]
            schema = schema.update_column(
                ref.column, checks=[*column.checks, known_values(ref.name, known)]
            )
        self._schemas[tenant_id] = schema
        return schema

    # -- one run over all files -----------------------------------------------------------
    def land(self, landing_root: Path) -> LandingResult:
        """Land every new file of the entity found under ``landing_root``.

        Files not landed before are grouped (consecutive files of one tenant, up to
        ``group_bytes`` together) so that many small drops share chunks and one transaction;
        each file still gets its own batch id, ``audit.batches`` row and counts. Paths the
        listing refused are recorded in ``audit.skipped_paths`` first
        (:meth:`record_skipped_paths`); files still being written are read as far as they are
        complete (module docstring).
        """
        result = LandingResult(self.entity)
        pending: list[_PendingFile] = []
        landed = self._landed_files()
        drops = list_drop_files(landing_root, self.entity, skipped=result.paths_skipped)
        self.record_skipped_paths(result.paths_skipped)
        now = time.time()
        for drop in drops:
            try:
                end, state, sha, failure = drop_signature(
                    drop, self.entity, self.settle_seconds, now
                )
            except FileNotFoundError:
                continue  # gone since it was listed
            if state != "complete":
                result.files_waiting.append(drop.relative_path)
            if state == "wait":
                continue
            if (drop.tenant_id, drop.relative_path, sha) in landed:
                result.files_skipped.append(drop.relative_path)
                continue
            batch_id = f"{self.entity.table}-{uuid.uuid4().hex[:16]}"
            pending.append(_PendingFile(drop, sha, batch_id, failure=failure, end=end))
        for group in _groups(pending, self.group_bytes):
            self._land_group(group)
            for item in group:
                result.files_ingested.append(item.drop.relative_path)
                result.per_tenant.setdefault(item.drop.tenant_id, LandingCounts()).add(item.counts)
                if item.unknown_columns and item.failure is None:
                    result.unknown_columns[item.drop.relative_path] = item.unknown_columns
        for path in result.files_waiting:
            self.log(
                f"{path}: still being written (modified in the last {self.settle_seconds:g} s): "
                "its unterminated last record is left for a later run"
            )
        return result

    def record_skipped_paths(self, skipped: list[SkippedPath]) -> int:
        """Record each path the listing refused in ``audit.skipped_paths``, once.

        One row per (entity, path, reason) ever seen: ``tenant_id`` (the tenant folder's name,
        or :data:`INVALID_TENANT` when that name is not a tenant id), ``folder_name`` (the tenant
        folder's name as found), ``source_system``, ``entity``, ``path`` (relative to the landing
        root, not-UTF-8 bytes escaped), ``reason`` (``symlink``, ``invalid_tenant_name``,
        ``outside_landing_root``, ``name_not_utf8``), ``first_seen_at`` (UTC, when first
        recorded), ``run_id`` (of that run). A path already recorded
        adds nothing (no commit either). Implements issue #12 §3 ("a bad name or a link is
        reported: audit row + failing check with the path").

        Returns:
            The number of rows added.
        """
        if not skipped:
            return 0
        found = list(dict.fromkeys((s.relative_path, s.reason) for s in skipped))

        def known() -> set[tuple[str, str]]:
            return set(
                run(
                    self.con,
                    "select path, reason from audit.skipped_paths "
                    "where source_system = ? and entity = ?",
                    [self.entity.system, self.entity.entity],
                )
            )

        already = known()
        if all(key in already for key in found):
            return 0  # nothing new: no transaction, no lake snapshot
        added: list[str] = []

        def write() -> None:
            added.clear()  # a retried attempt counts from zero again
            recorded = known()
            seen_at = datetime.now(UTC).replace(tzinfo=None)
            for path, reason in found:
                if (path, reason) in recorded:
                    continue
                folder = display_path(path.split("/", 1)[0])
                run(
                    self.con,
                    "insert into audit.skipped_paths values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        folder if is_folder_name(folder) else INVALID_TENANT,
                        folder,
                        self.entity.system,
                        self.entity.entity,
                        display_path(path),
                        reason,
                        seen_at,
                        self.run_id,
                    ],
                )
                added.append(path)

        lake.transaction(self.con, write)
        return len(added)

    def _landed_files(self) -> set[tuple[str, str, str]]:
        """(tenant_id, source_file, file_sha256) of every file of the entity landed before: one
        query per run of the entity, not one per drop file."""
        rows = run(
            self.con,
            "select distinct tenant_id, source_file, file_sha256 from audit.batches "
            "where source_system = ? and entity = ?",
            [self.entity.system, self.entity.entity],
        )
        return {(tenant, path, sha) for tenant, path, sha in rows}

    def _land_group(self, group: list[_PendingFile]) -> None:
        """Land files of one tenant in one transaction: all of them, or (on error) none.

        A file whose reading raises lands as one quarantine row (:meth:`_quarantine_file`)
        while the others land as usual: if it raised before yielding a record it is simply
        passed over; if it raised after some, the attempt is rolled back and repeated without
        reading it (at most once per file of the group). Errors while writing fail the group.
        """
        started = datetime.now(UTC).replace(tzinfo=None)

        def records() -> Iterator[tuple[int, int, str]]:
            for index, item in enumerate(group):
                if item.failure is not None:
                    continue
                yielded = False
                notes = ReadNotes()
                try:
                    for row, text in iter_records(item.drop.path, self.entity, notes, end=item.end):
                        yielded = True
                        yield index, row, text
                    item.unknown_columns = notes.unknown_columns
                    item.first_values = notes.first_values
                except Exception as error:  # any reading error stays with its file
                    if yielded:  # some of its records may have landed in this attempt
                        raise _ReadFailed(index, error) from error
                    item.failure = error

        def land_all() -> None:
            for item in group:  # a retried attempt counts from zero again
                item.counts = LandingCounts()
            for chunk in _chunks(records(), self.chunk_rows):
                self._land_chunk(group, started, chunk)
            for item in group:
                if item.failure is not None:
                    self._quarantine_file(item, started)
            finished = datetime.now(UTC).replace(tzinfo=None)
            for item in group:
                counts = item.counts
                run(
                    self.con,
                    "insert into audit.batches values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        item.batch_id,
                        self.run_id,
                        item.drop.tenant_id,
                        self.entity.system,
                        self.entity.entity,
                        item.drop.relative_path,
                        item.sha,
                        item.file_bytes,
                        counts.rows_read,
                        counts.rows_landed,
                        counts.rows_quarantined,
                        counts.rows_duplicate,
                        started,
                        finished,
                    ],
                )
            self._record_drift(group, finished)

        # One lake snapshot per group; repeated from the start if another writer's commit
        # conflicts with it (nothing of a failed attempt is visible).
        while True:
            try:
                lake.transaction(self.con, land_all)
                break
            except _ReadFailed as failed:  # rolled back: again, without that file's records
                group[failed.index].failure = failed.error
        for item in group:
            if item.failure is not None:
                self.log(
                    f"{item.drop.relative_path}: quarantined as a whole: "
                    f"{file_failure(item.failure)[1]}"
                )
            elif item.unknown_columns:
                self.log(
                    f"{item.drop.relative_path}: columns not in the contract, not landed: "
                    + ", ".join(item.unknown_columns)
                )
        total = LandingCounts()
        for item in group:
            total.add(item.counts)
        where = group[0].drop.relative_path
        if len(group) > 1:
            where = (
                f"{len(group)} files {where} … {group[-1].drop.relative_path.rsplit('/', 1)[-1]}"
            )
        self.log(
            f"{where}: read {total.rows_read}, landed {total.rows_landed}, "
            f"quarantined {total.rows_quarantined}, duplicates {total.rows_duplicate}"
        )

    def _record_drift(self, group: list[_PendingFile], at: datetime) -> None:
        """Record the group's CSV header columns no contract field reads in
        ``audit.schema_drift`` (in the group's transaction), once per file and column.

        Columns: ``tenant_id``, ``source_system``, ``entity``, ``source_file``, ``batch_id`` (the
        batch that first saw the column in that file), ``field`` (the header name),
        ``first_value`` (its first non-blank value, at most :data:`DRIFT_VALUE_CHARS`
        characters; null when every row left it blank), ``first_value_row`` (that record's
        ordinal), ``recorded_at`` (UTC), ``run_id``. A changed file read again adds no second
        row for a column already recorded; a replayed file is not read at all. Issue #12 §4
        ("unknown columns/fields are recorded per batch: file, field, first value seen").
        """
        items = [i for i in group if i.failure is None and i.unknown_columns]
        if not items:
            return
        known = set(
            run(
                self.con,
                "select tenant_id, source_file, field from audit.schema_drift "
                "where source_system = ? and entity = ? and list_contains(?, source_file)",
                [self.entity.system, self.entity.entity, [i.drop.relative_path for i in items]],
            )
        )
        for item in items:
            for column in item.unknown_columns:
                if (item.drop.tenant_id, item.drop.relative_path, column) in known:
                    continue
                row, value = item.first_values.get(column, (None, None))
                run(
                    self.con,
                    "insert into audit.schema_drift values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        item.drop.tenant_id,
                        self.entity.system,
                        self.entity.entity,
                        item.drop.relative_path,
                        item.batch_id,
                        column,
                        None if value is None else value[:DRIFT_VALUE_CHARS],
                        row,
                        at,
                        self.run_id,
                    ],
                )

    def _quarantine_file(self, item: _PendingFile, at: datetime) -> None:
        """Quarantine a file whose reading raised as one row: ``source_row`` 0, ``record`` a
        JSON description ``{"_file", "file_sha256", "file_bytes"}`` (never the file's content),
        ``failed_checks`` ``[_file:encoding]`` or ``[_file:unreadable]``, the error in
        ``reason``. Its counts become read 1, quarantined 1."""
        assert item.failure is not None
        check, reason = file_failure(item.failure)
        record = json.dumps(
            {
                "_file": item.drop.relative_path,
                "file_sha256": item.sha,
                "file_bytes": item.file_bytes,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )
        run(
            self.con,
            "insert into audit.quarantine (tenant_id, source_system, entity, source_file, "
            "source_row, batch_id, record_hash, record, failed_checks, reason, quarantined_at) "
            "values (?, ?, ?, ?, 0, ?, md5(?), ?, [?], ?, ?)",
            [
                item.drop.tenant_id,
                self.entity.system,
                self.entity.entity,
                item.drop.relative_path,
                item.batch_id,
                record,
                record,
                check,
                reason,
                at,
            ],
        )
        item.counts = LandingCounts(rows_read=1, rows_quarantined=1, reasons=Counter({check: 1}))

    # -- one chunk ------------------------------------------------------------------------
    def _land_chunk(
        self, group: list[_PendingFile], ingested_at: datetime, chunk: list[tuple[int, int, str]]
    ) -> None:
        """Dedupe, validate, quarantine and insert one chunk (records of one or more files)."""
        tenant_id = group[0].drop.tenant_id
        files = pl.DataFrame(
            {
                "_file": list(range(len(group))),
                "_source_file": [item.drop.relative_path for item in group],
                "_batch_id": [item.batch_id for item in group],
            },
            schema={"_file": pl.Int32, "_source_file": pl.String, "_batch_id": pl.String},
        )
        frame = pl.DataFrame(
            {
                "_file": [index for index, _, _ in chunk],
                "_source_row": [row for _, row, _ in chunk],
                "_record": [text for _, _, text in chunk],
            },
            schema={"_file": pl.Int32, "_source_row": pl.Int32, "_record": pl.String},
        )
        read = Counter(frame["_file"].to_list())
        frame = self._hash_and_dedupe(frame, tenant_id).join(files, on="_file", how="left")
        kept = Counter(frame["_file"].to_list())
        for index, n in read.items():
            group[index].counts.rows_read += n
            group[index].counts.rows_duplicate += n - kept.get(index, 0)
        if frame.height == 0:
            return

        invalid_json = frame.filter(~pl.col("_json_ok"))
        frame = frame.filter(pl.col("_json_ok")).drop("_json_ok")
        reasons: dict[int, list[str]] = {}
        frame = extract_text_fields(
            self.con,
            frame,
            {
                **{name: path for name, (path, _) in self.entity.fields.items()},
                _EXTRA_VALUES_COLUMN: f"$.{EXTRA_VALUES_KEY}",
            },
        )
        for position in frame[_EXTRA_VALUES_COLUMN].is_not_null().arg_true().to_list():
            reasons[position] = [EXTRA_VALUES]
        frame = frame.drop(_EXTRA_VALUES_COLUMN)
        _merge(reasons, failed_checks(frame, self._schema_for(tenant_id)))
        _merge(reasons, text_failures(frame, self.entity.schema.columns))
        children: list[tuple[ChildTable, pl.DataFrame]] = []
        for child in self.entity.children:
            child_frame, too_deep = _child_frames(frame, child)
            for position in too_deep:
                reasons[position] = sorted({*reasons.get(position, []), NESTING_DEPTH})
            child_frame = extract_text_fields(
                self.con,
                child_frame,
                {name: col.metadata["path"] for name, col in child.schema.columns.items()},
            )
            child_failures = failed_checks(child_frame, child.schema)
            _merge(child_failures, text_failures(child_frame, child.schema.columns))
            for position, checks in child_failures.items():
                parent = int(child_frame["_parent_pos"][position])
                merged = set(reasons.get(parent, [])) | {f"{child.array_key}[].{c}" for c in checks}
                reasons[parent] = sorted(merged)
            children.append((child, child_frame))

        bad_positions = pl.Series(sorted(reasons), dtype=pl.Int64).implode()
        positioned = frame.with_row_index("_pos").with_columns(pl.col("_pos").cast(pl.Int64))
        quarantined = positioned.filter(pl.col("_pos").is_in(bad_positions)).with_columns(
            pl.Series("_failed", [reasons[i] for i in sorted(reasons)], dtype=pl.List(pl.String))
        )
        lineage = ["_file", "_source_file", "_batch_id", "_source_row", "_record", "_record_hash"]
        quarantined = pl.concat(
            [
                quarantined.select(*lineage, "_failed"),
                invalid_json.select(*lineage).with_columns(
                    pl.lit([INVALID_JSON], dtype=pl.List(pl.String)).alias("_failed")
                ),
            ]
        )
        self._quarantine(tenant_id, ingested_at, quarantined)
        for index, checks in quarantined.select("_file", "_failed").iter_rows():
            group[index].counts.rows_quarantined += 1
            group[index].counts.reasons.update(checks)

        valid = positioned.filter(~pl.col("_pos").is_in(bad_positions))
        self._insert_valid(tenant_id, ingested_at, valid)
        for index, n in Counter(valid["_file"].to_list()).items():
            group[index].counts.rows_landed += n
        for child, child_frame in children:
            landed = self._insert_children(tenant_id, ingested_at, valid, child, child_frame)
            for index, n in Counter(landed.to_list()).items():
                group[index].counts.child_rows_landed += n

    def _hash_and_dedupe(self, frame: pl.DataFrame, tenant_id: str) -> pl.DataFrame:
        """Add ``_record_hash``/``_json_ok``; drop exact duplicates within the chunk (the first
        occurrence in file order stays) and of rows already landed or quarantined for this
        tenant and entity — except quarantined rows the review desk sent back for another try
        (``audit.review_actions``, action ``retry``, issue #13 §7)."""
        self.con.register("_chunk", frame)
        try:
            hashed = self.con.sql(
                """
                with hashed as (
                    select _file, _source_row, _record, json_valid(_record) as _json_ok,
                           -- minified JSON: the same record re-delivered with other white
                           -- space (a webhook payload vs a JSONL line) is still a duplicate
                           md5(case when json_valid(_record) then json(_record)::varchar
                                    else _record end) as _record_hash
                    from _chunk
                ),
                first_seen as (
                    select * from hashed
                    qualify row_number() over (
                        partition by _record_hash order by _file, _source_row) = 1
                )
                select f.* from first_seen f
                where not exists (
                    select 1 from raw.{table} r
                    where r.tenant_id = $tenant and r._record_hash = f._record_hash)
                  and not exists (
                    select 1 from audit.quarantine q
                    where q.tenant_id = $tenant and q.source_system = $system
                      and q.entity = $entity and q.record_hash = f._record_hash
                      -- a quarantined record the review desk sent back ('retry') is read
                      -- again; quarantined again, its new row blocks later duplicates
                      and not exists (
                        select 1 from audit.review_actions a
                        where a.tenant_id = q.tenant_id and a.item_kind = 'quarantine'
                          and a.action = 'retry' and a.source = q.source_system
                          and a.entity = q.entity and a.record_hash = q.record_hash
                          and a.acted_at >= q.quarantined_at))
                order by _file, _source_row
                """.replace("{table}", quote(self.entity.table)),
                params={
                    "tenant": tenant_id,
                    "system": self.entity.system,
                    "entity": self.entity.entity,
                },
            ).pl()
        finally:
            self.con.unregister("_chunk")
        return hashed

    def _quarantine(self, tenant_id: str, at: datetime, rows: pl.DataFrame) -> None:
        if rows.height == 0:
            return
        out = rows.select(
            pl.lit(tenant_id).alias("tenant_id"),
            pl.lit(self.entity.system).alias("source_system"),
            pl.lit(self.entity.entity).alias("entity"),
            pl.col("_source_file").alias("source_file"),
            pl.col("_source_row").alias("source_row"),
            pl.col("_batch_id").alias("batch_id"),
            pl.col("_record_hash").alias("record_hash"),
            pl.col("_record").alias("record"),
            pl.col("_failed").alias("failed_checks"),
            pl.col("_failed").list.join("; ").alias("reason"),
            pl.lit(at).alias("quarantined_at"),
        )
        self.con.register("_quarantine_rows", out)
        try:
            run(self.con, "insert into audit.quarantine by name select * from _quarantine_rows")
        finally:
            self.con.unregister("_quarantine_rows")

    def _insert_valid(self, tenant_id: str, at: datetime, valid: pl.DataFrame) -> None:
        if valid.height == 0:
            return
        out = valid.select(
            pl.lit(tenant_id).alias("tenant_id"),
            *[cast_expr(name, kind) for name, (_, kind) in self.entity.fields.items()],
            pl.lit(self.entity.system).alias("_source_system"),
            pl.col("_source_file"),
            pl.col("_source_row"),
            pl.col("_batch_id"),
            pl.lit(at).alias("_ingested_at"),
            pl.col("_record_hash"),
        )
        self._append(self.entity.table, out, self._raw_columns)

    def _insert_children(
        self,
        tenant_id: str,
        at: datetime,
        valid_parents: pl.DataFrame,
        child: ChildTable,
        child_frame: pl.DataFrame,
    ) -> pl.Series:
        """Append the child rows of valid parents (``valid_parents._pos`` = chunk position);
        return the file index of every child row appended."""
        if valid_parents.height == 0 or child_frame.height == 0:
            return pl.Series("_file", [], dtype=pl.Int32)
        parent_cols = [
            cast_expr(name, self.entity.fields[name][1]) for name in child.parent_columns
        ]
        keys = valid_parents.select(
            pl.col("_pos").alias("_parent_pos"),
            *parent_cols,
            pl.col("_record_hash").alias("_parent_record_hash"),
            "_file",
            "_source_file",
            "_source_row",
            "_batch_id",
        )
        joined = child_frame.join(keys, on="_parent_pos", how="inner")
        out = joined.select(
            pl.lit(tenant_id).alias("tenant_id"),
            *[pl.col(name) for name in child.parent_columns],
            *[cast_expr(name, col.metadata["type"]) for name, col in child.schema.columns.items()],
            pl.col("_child_index"),
            pl.col("_parent_record_hash"),
            pl.col("_source_file"),
            pl.col("_source_row"),
            pl.col("_batch_id"),
            pl.lit(at).alias("_ingested_at"),
        )
        table = f"{self.entity.system}__{child.name}"
        self._append(table, out, list(child_table_columns(self.entity, child)))
        return joined["_file"]

    def _append(self, table: str, frame: pl.DataFrame, columns: list[str]) -> None:
        self.con.register("_append_rows", frame)
        try:
            column_list = ", ".join(quote(c) for c in columns)
            run(
                self.con,
                f"insert into raw.{quote(table)} ({column_list}) "
                f"select {column_list} from _append_rows",
            )
        finally:
            self.con.unregister("_append_rows")


def land_entity(
    con: duckdb.DuckDBPyConnection,
    entity: SourceEntity,
    landing_root: Path,
    run_id: str = "manual",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    log: Callable[[str], None] | None = None,
    settle_seconds: float = 0.0,
) -> LandingResult:
    """Land all new drop files of ``entity`` under ``landing_root`` (see module docstring).

    ``settle_seconds``: see :class:`EntityLoader` (0: read every file whole).
    """
    return EntityLoader(
        con, entity, run_id, chunk_rows=chunk_rows, log=log, settle_seconds=settle_seconds
    ).land(landing_root)
