"""EDIFACT interchanges read with ``pydifact`` into the neutral structure of ``envelope.py``.

``pydifact`` (PyPI, maintained, pure Python) tokenizes the text: it reads the service string
advice (``UNA``, else the default separators ``:+.? '``), handles the release character
(``?+`` is a literal ``+``) and splits segments into elements and components. The envelope
(UNB/UNZ, UNG/UNE, UNH/UNT) is walked here, with the checks listed in ``envelope.py``
(ISO 9735: UNZ 0036 counts the messages, or the groups when UNG is used; UNT 0074 counts the
segments from UNH to UNT inclusive).

Encoding: the bytes are decoded by the interchange's syntax identifier (UNB S001 0001):
``UNOA``/``UNOB`` ASCII, ``UNOC`` ISO 8859-1, ``UNOD`` 8859-2, ``UNOE`` 8859-5, ``UNOF``
8859-7, ``UNOW``/``UNOY`` UTF-8; anything else as UTF-8. Bytes that do not decode raise
:class:`UnicodeDecodeError` (the loader quarantines the file, ``_file:encoding``).

A text ``pydifact`` cannot tokenize (e.g. cut off inside a segment) raises
:class:`~traceloom_pipelines.sources.edi.envelope.EdiSyntaxError`: the whole file is quarantined
(``_file:unreadable``), since the tokenizer gives no position to resume from.
"""

from __future__ import annotations

import re
import warnings

from pydifact.exceptions import EDISyntaxError
from pydifact.parser import Parser

from traceloom_pipelines.sources.edi.envelope import (
    EDIFACT,
    Defect,
    EdiSyntaxError,
    Group,
    Interchange,
    Segment,
    Transaction,
    trailer_defects,
)

SYNTAX_ENCODINGS = {
    "UNOA": "ascii",
    "UNOB": "ascii",
    "UNOC": "iso8859_1",
    "UNOD": "iso8859_2",
    "UNOE": "iso8859_5",
    "UNOF": "iso8859_7",
    "UNOW": "utf-8",
    "UNOY": "utf-8",
}
_SYNTAX_ID = re.compile(rb"UNB.(UNO[A-Z])")


def decode_edifact(data: bytes) -> str:
    """The interchange's text, decoded by its syntax identifier (module docstring).

    Raises:
        UnicodeDecodeError: bytes that are not valid in that encoding.
    """
    found = _SYNTAX_ID.search(data[:1024])
    encoding = SYNTAX_ENCODINGS.get(found.group(1).decode() if found else "", "utf-8")
    return data.decode("utf-8-sig" if encoding == "utf-8" else encoding, errors="strict")


def _segment(raw) -> Segment:
    elements = tuple(
        tuple(str(c) for c in e) if isinstance(e, list) else (str(e),) for e in raw.elements
    )
    # the segment text as the default syntax writes it (pydifact keeps no source text)
    text = "+".join(
        [raw.tag, *(":".join(c.replace("?", "??").replace("+", "?+") for c in e) for e in elements)]
    )
    return Segment(raw.tag, elements, text)


def read_edifact(text: str) -> list[Interchange]:
    """Read every EDIFACT interchange of ``text`` (one file) and check its envelopes.

    Raises:
        EdiSyntaxError: no UNA/UNB at the start, or ``pydifact`` cannot tokenize the text.
    """
    body = text.lstrip("\ufeff \t\r\n")
    if not body.startswith(("UNA", "UNB")):
        raise EdiSyntaxError("not an EDIFACT interchange: no UNA or UNB at the start")
    try:
        with warnings.catch_warnings():
            # pydifact warns that it has no directory XML to validate segments against
            warnings.simplefilter("ignore")
            segments = [_segment(s) for s in Parser().parse(body)]
    except EDISyntaxError as error:
        raise EdiSyntaxError(f"EDIFACT text cannot be tokenized: {error}") from error

    interchanges: list[Interchange] = []
    current: Interchange | None = None
    group: Group | None = None
    txn: Transaction | None = None
    texts: list[str] = []

    def close_message(reason: str) -> None:
        nonlocal txn
        if txn is not None:
            txn.broken = Defect(
                "unt_missing",
                f"UNH {txn.set_id} {txn.control_number} has no UNT trailer ({reason})",
                list(txn.all_segments),
            )
            txn = None

    def close_group(reason: str) -> None:
        nonlocal group
        close_message(reason)
        if group is not None and group.header:
            group.defects.append(
                Defect(
                    "une_missing",
                    f"UNG {group.control_number} has no UNE ({reason})",
                    [group.header],
                    group.control_number,
                )
            )
        group = None

    for seg in segments:
        tag = seg.tag
        if tag == "UNA":
            continue
        if tag == "UNB":
            if current is not None:
                close_group("another UNB follows")
                current.defects.append(Defect("unz_missing", "UNB has no UNZ", [current.header]))
                current.text = "'".join(texts)
            texts = [seg.text]
            current = Interchange(
                standard=EDIFACT,
                sender_id=seg.get(2) or "",
                sender_qualifier=seg.get(2, 2),
                receiver_id=seg.get(3) or "",
                receiver_qualifier=seg.get(3, 2),
                date=seg.get(4),
                time=seg.get(4, 2),
                control_number=seg.get(5) or "",
                test_indicator=seg.get(11),
                version=":".join(c for c in seg.elements[0] if c) if seg.elements else None,
                separators=("+", ":", "'", "*"),
                header=seg.text,
            )
            interchanges.append(current)
            continue
        if current is None:
            if not interchanges:
                raise EdiSyntaxError(f"EDIFACT text starts with {tag}, not UNB")
            interchanges[-1].defects.append(
                Defect("segment_outside_transaction", f"{tag} after UNZ, outside any interchange")
            )
            interchanges[-1].defects[-1].segments = [seg.text]
            continue
        texts.append(seg.text)
        if tag == "UNZ":
            close_group("UNZ follows")
            current.trailer = seg.text
            uses_groups = any(g.header for g in current.groups)
            count = (
                len(current.groups)
                if uses_groups
                else sum(len(g.transactions) for g in current.groups)
            )
            current.defects += trailer_defects(
                seg,
                current.header,
                current.control_number,
                count,
                reference=("unz_control_reference_mismatch", "UNZ 0020", "UNB 0020"),
                counted=(
                    "unz_count_mismatch",
                    "UNZ 0036",
                    "group(s)" if uses_groups else "message(s)",
                ),
            )
            current.text = "'".join(texts)
            current = None
            continue
        if tag == "UNG":
            close_group("another UNG follows")
            group = Group(
                functional_id=seg.get(1),
                control_number=seg.get(5),
                sender_id=seg.get(2),
                receiver_id=seg.get(3),
                version=":".join(c for c in seg.elements[6] if c)
                if len(seg.elements) > 6
                else None,
                date=seg.get(4),
                header=seg.text,
            )
            current.groups.append(group)
            continue
        if tag == "UNE":
            if group is None or not group.header:
                current.defects.append(
                    Defect("segment_outside_transaction", "UNE without UNG", [seg.text])
                )
                continue
            close_message("UNE follows")
            group.defects += trailer_defects(
                seg,
                group.header,
                group.control_number,
                len(group.transactions),
                reference=("une_control_reference_mismatch", "UNE 0048", "UNG 0048"),
                counted=("une_message_count_mismatch", "UNE 0060", "message(s)"),
                group_control_number=group.control_number,
            )
            group = None
            continue
        if tag == "UNH":
            close_message("another UNH follows")
            if group is None:
                # messages without UNG: one implicit group per interchange
                if not current.groups or current.groups[-1].header:
                    current.groups.append(Group(None, None, None, None, None))
                group = current.groups[-1]
            txn = Transaction(
                set_id=seg.get(2) or "",
                control_number=seg.get(1) or "",
                version=":".join(c for c in seg.elements[1][1:4] if c)
                if len(seg.elements) > 1
                else None,
                all_segments=[seg.text],
            )
            group.transactions.append(txn)
            continue
        if txn is None:
            current.defects.append(
                Defect(
                    "segment_outside_transaction",
                    f"segment {tag!r} outside any message",
                    [seg.text],
                )
            )
            continue
        txn.all_segments.append(seg.text)
        if tag == "UNT":
            txn.defects += trailer_defects(
                seg,
                txn.all_segments[0],
                txn.control_number,
                len(txn.all_segments),
                reference=("unt_message_reference_mismatch", "UNT 0062", "UNH 0062"),
                counted=("unt_segment_count_mismatch", "UNT 0074", "segments from UNH to UNT"),
            )
            txn = None
            if group is not None and not group.header:
                group = None  # the implicit group stays open for the next UNH
            continue
        txn.segments.append(seg)
    if current is not None:
        close_group("end of file")
        current.defects.append(
            Defect("unz_missing", f"UNB {current.control_number} has no UNZ", [current.header])
        )
        current.text = "'".join(texts)
    return interchanges
