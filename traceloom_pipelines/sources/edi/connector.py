"""The EDI drop-file reader: interchanges → line records and defect records, then the 997/CONTRL.

Trading partners' files arrive (AS2/SFTP, unpacked by the transport) in
``landing/<tenant>/edi/<entity>/`` as ``*.edi``, ``*.x12`` or ``*.edifact``; sub-folders (one
per partner, say) are allowed. A file holds one or more interchanges of one standard: X12
(starts with ``ISA``) or EDIFACT (``UNA``/``UNB``). :func:`iter_edi_records` is the entity's
``reader`` (:class:`~traceloom_pipelines.landing.entity.SourceEntity`); it yields
``(1-based ordinal, record JSON text)`` like every reader, and the loader validates, hashes,
dedupes and lands them. Three kinds of record:

- a **line record** (one per PO line, acknowledged line, shipped item; ``messages.py``) with the
  envelope columns: ``edi_standard``, ``message_type`` (``850``, ``ORDERS`` …), ``partner_id``
  (ISA06 / UNB sender: the trading partner), ``partner_id_qualifier``, ``receiver_id``,
  ``interchange_control_number``, ``interchange_date``, ``group_control_number``,
  ``transaction_control_number``, ``line_sequence`` (1-based within the transaction);
- an **envelope defect** (``{"_envelope": "<code>", "detail", "segments", …}``): the
  contract's ``_envelope`` column fails with the check of that name, so the loader quarantines
  it as ``_envelope:<code>`` (e.g. ``_envelope:iea_control_number_mismatch``); the
  transaction's line records land regardless;
- a **rejected transaction** (``{"_transaction": "<code>", "detail", "segments", …}`` with every
  segment of the transaction): quarantined as ``_transaction:<code>`` (``se_missing``,
  ``unparseable_segment``, ``unknown_transaction_set``, ``other_entity_transaction_set`` — an
  856 dropped in ``purchase_orders`` —, ``missing_beg``, ``missing_po_number``, ``no_po_lines``
  …); none of its lines land.

So every transaction is landed or quarantined, and ``rows_read = landed + quarantined +
duplicate`` holds per file. Records are deterministic (no read time, no file name in them): a
replayed file is skipped by its sha256, the same interchange under another name lands only
duplicates.

Acknowledgments: after the file has been read to its end, one 997 (X12) or CONTRL (EDIFACT)
per interchange is written for the sender (``acknowledgments.py``) under
``<data_dir>/edi/outbound/<tenant>/<partner>/``, where ``data_dir`` is the landing root's
parent. Writing them here, in the reader, is the least invasive place: the reader is the only
code that has the parsed envelopes, it runs once per new or changed file (a replayed file is
not read, so it is not acknowledged twice), and the loader and asset factory stay untouched. A
997 acknowledges syntax (what the reader accepted), not the lake commit; if the commit fails,
the next run reads the file again and rewrites the same acknowledgment (same name, same
control numbers). An acknowledgment that cannot be written is logged as a warning on
``traceloom.landing``; the records still land.

Errors raised (the loader quarantines the whole file, one row):
    EdiSyntaxError: not an interchange (``_file:unreadable``).
    FileEncodingError, UnicodeDecodeError: bytes not valid in the file's encoding
        (``_file:encoding``; X12 is read as UTF-8, EDIFACT by its syntax identifier).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

from traceloom_pipelines.landing.readers import check_utf8_start, open_binary
from traceloom_pipelines.sources.edi.acknowledgments import write_acknowledgment
from traceloom_pipelines.sources.edi.edifact import decode_edifact, read_edifact
from traceloom_pipelines.sources.edi.envelope import (
    Defect,
    EdiSyntaxError,
    Group,
    Interchange,
    Transaction,
    read_x12,
)
from traceloom_pipelines.sources.edi.messages import MAPPERS, BrokenTransaction, edi_date

SYSTEM = "edi"
SUFFIXES = (".edi", ".x12", ".edifact")
log = logging.getLogger("traceloom.landing")


def read_interchanges(path: Path) -> list[Interchange]:
    """Every interchange of one drop file, envelopes checked (links are not followed).

    Raises:
        EdiSyntaxError, FileEncodingError, UnicodeDecodeError: see the module docstring.
    """
    check_utf8_start(path)
    with open_binary(path) as handle:
        data = handle.read()
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:3]
    if head == b"ISA":
        return read_x12(data.decode("utf-8-sig", errors="strict"))
    if head in (b"UNA", b"UNB"):
        return read_edifact(decode_edifact(data))
    raise EdiSyntaxError("not an EDI interchange: the file starts with neither ISA nor UNA/UNB")


def _dumps(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _base(ic: Interchange) -> dict:
    return {
        "edi_standard": ic.standard,
        "partner_id": ic.sender_id or None,
        "partner_id_qualifier": ic.sender_qualifier,
        "receiver_id": ic.receiver_id or None,
        "interchange_control_number": ic.control_number or None,
        "interchange_date": edi_date(ic.date),
    }


def _defect(base: dict, defect: Defect, column: str, **extra) -> dict:
    return {
        **base,
        **{k: v for k, v in extra.items() if v is not None},
        column: defect.code,
        "detail": defect.detail,
        "segments": defect.segments,
    }


def transaction_records(ic: Interchange, entity: str) -> Iterator[dict]:
    """The records of every transaction and defect of ``ic`` for ``entity`` (module docstring);
    sets :attr:`Transaction.rejected` on the transactions that do not land."""
    base = _base(ic)
    for defect in ic.defects:
        yield _defect(base, defect, "_envelope", group_control_number=defect.group_control_number)
    for group in ic.groups:
        yield from _group_records(base, group, entity)


def _group_records(base: dict, group: Group, entity: str) -> Iterator[dict]:
    group_base = {**base, "group_control_number": group.control_number}
    for defect in group.defects:
        yield _defect(group_base, defect, "_envelope")
    for txn in group.transactions:
        yield from _transaction(group_base, txn, entity)


def _transaction(base: dict, txn: Transaction, entity: str) -> Iterator[dict]:
    txn_base = {
        **base,
        "message_type": txn.set_id or None,
        "transaction_control_number": txn.control_number or None,
    }
    for defect in txn.defects:
        yield _defect(txn_base, defect, "_envelope")
    rejected: Defect | None = txn.broken
    records: list[dict] = []
    if rejected is None:
        mapped = MAPPERS.get(txn.set_id)
        if mapped is None:
            rejected = Defect(
                "unknown_transaction_set",
                f"transaction set {txn.set_id!r} is not one of {', '.join(MAPPERS)}",
            )
        elif mapped[0] != entity:
            rejected = Defect(
                "other_entity_transaction_set",
                f"{txn.set_id} belongs in edi/{mapped[0]}, not edi/{entity}",
            )
        else:
            try:
                records = mapped[1](txn)
            except BrokenTransaction as broken:
                rejected = Defect(broken.code, broken.detail)
    if rejected is not None:
        txn.rejected = rejected.code
        rejected.segments = list(txn.all_segments)
        yield _defect(txn_base, rejected, "_transaction")
        return
    for sequence, record in enumerate(records, start=1):
        yield {**txn_base, "line_sequence": str(sequence), **record}


def _data_dir_and_tenant(path: Path, entity: str) -> tuple[Path, str] | None:
    """``(data_dir, tenant)`` of a drop file at ``<data_dir>/<landing>/<tenant>/edi/<entity>/…``
    (the nearest such folders above it), None if the path is not laid out so."""
    parts = path.parts
    for i in range(len(parts) - 3, 1, -1):
        if parts[i] == SYSTEM and parts[i + 1] == entity:
            return Path(*parts[: i - 2]), parts[i - 1]
    return None


def iter_edi_records(
    path: Path, entity: str, acknowledge: bool = True
) -> Iterator[tuple[int, str]]:
    """Records of one EDI drop file for ``entity``: ``(1-based ordinal, JSON text)``, then (with
    ``acknowledge``, once every record was taken) the acknowledgments (module docstring).

    Raises:
        EdiSyntaxError, FileEncodingError, UnicodeDecodeError: see the module docstring.
    """
    interchanges = read_interchanges(path)
    ordinal = 0
    for ic in interchanges:
        for record in transaction_records(ic, entity):
            ordinal += 1
            yield ordinal, _dumps(record)
    where = _data_dir_and_tenant(path, entity) if acknowledge else None
    if where is None:
        return
    data_dir, tenant = where
    for ic in interchanges:
        try:
            write_acknowledgment(data_dir, tenant, ic)
        except OSError as error:
            log.warning(
                "%s: the acknowledgment of interchange %s could not be written: %s",
                path,
                ic.control_number,
                error,
            )
