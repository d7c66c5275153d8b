"""EDI interchanges as one neutral structure, and the small X12 segment reader.

Both standards nest the same way — interchange (ISA/IEA, UNB/UNZ) → functional group (GS/GE,
UNG/UNE, optional in EDIFACT) → transaction set / message (ST/SE, UNH/UNT) → segments — so both
readers produce :class:`Interchange` objects, and the envelope checks, the record mapping
(``messages.py``) and the acknowledgments (``acknowledgments.py``) work on that structure alone.

Why X12 is read by our own segment reader (not a PyPI library): the two candidates checked on
PyPI do not fit. ``badx12`` (0.2.2) targets Python 3.6/3.7 and pins ``click==7.0`` and
``dicttoxml==1.7.4`` (it would downgrade this project's click); it is unmaintained.
``pyx12`` (4.0.0, maintained) is a HIPAA health-care validator: ~9.5 MB of XML maps for
270/271/276/277/278/820/834/835/837, none for 850/855/856, and its readers validate against
those maps. What X12 needs here is small and fully specified by the standard (X12.5/X12.6):
the element separator, component separator and segment terminator are read from the ISA
header, which is fixed-width (106 characters: the element separator is its 4th character, the
component separator ISA16 its 105th and the segment terminator its 106th), then the text is
split. :func:`read_x12` does that and nothing more; EDIFACT is tokenized by ``pydifact``
(``edifact.py``).

Envelope checks (X12 / EDIFACT), each a defect code (:data:`ENVELOPE_DEFECTS`):

- interchange: IEA02 = ISA13 (``iea_control_number_mismatch``), IEA01 = number of GS groups
  (``iea_group_count_mismatch``), IEA present (``iea_missing``); UNZ0020 = UNB0020, UNZ0036 =
  number of messages (or of groups when UNG is used), UNZ present;
- group: GE02 = GS06, GE01 = number of ST, GE present, ST inside a GS (``gs_missing``);
  UNE likewise for UNG;
- transaction: SE02 = ST02, SE01 = segments from ST to SE inclusive; UNT0062 = UNH0062, UNT0074
  = segments from UNH to UNT inclusive;
- segments outside any transaction (``segment_outside_transaction``).

An envelope defect never drops a transaction: it is reported (quarantine row, acknowledgment)
and the transaction's records still land. A transaction that cannot be trusted — its trailer is
missing (``se_missing`` / ``unt_missing``: cut off) or a segment cannot be parsed
(``unparseable_segment``) — is *broken* (:attr:`Transaction.broken`) and quarantined whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

X12 = "X12"
EDIFACT = "EDIFACT"
ISA_LENGTH = 106
# A segment tag: two or three upper-case letters or digits, starting with a letter.
_TAG = re.compile(r"^[A-Z][A-Z0-9]{1,2}$")

# Envelope defects (quarantined as ``_envelope:<code>``; the transaction still lands).
ENVELOPE_DEFECTS = (
    "iea_missing",
    "iea_control_number_mismatch",
    "iea_group_count_mismatch",
    "gs_missing",
    "ge_missing",
    "ge_control_number_mismatch",
    "ge_transaction_count_mismatch",
    "se_control_number_mismatch",
    "se_segment_count_mismatch",
    "unz_missing",
    "unz_control_reference_mismatch",
    "unz_count_mismatch",
    "une_missing",
    "une_control_reference_mismatch",
    "une_message_count_mismatch",
    "unt_message_reference_mismatch",
    "unt_segment_count_mismatch",
    "segment_outside_transaction",
)
# Transaction defects (quarantined as ``_transaction:<code>``; the transaction does not land).
TRANSACTION_DEFECTS = (
    "se_missing",
    "unt_missing",
    "unparseable_segment",
    "unknown_transaction_set",
    "other_entity_transaction_set",
    "missing_beg",
    "missing_bak",
    "missing_bsn",
    "missing_bgm",
    "missing_po_number",
    "missing_shipment_id",
    "no_po_lines",
)


class EdiSyntaxError(ValueError):
    """A drop file that is not an EDI interchange at all (no ``ISA`` / ``UNB`` / ``UNA`` at its
    start, an ISA header that is not 106 characters, an EDIFACT text ``pydifact`` cannot
    tokenize). The loader quarantines the whole file (``_file:unreadable``)."""


@dataclass(frozen=True)
class Segment:
    """One segment: its tag and its elements, each a tuple of components (text as sent).

    ``text`` is the segment as it stood in the file (without its terminator), kept for the
    quarantine record.
    """

    tag: str
    elements: tuple[tuple[str, ...], ...]
    text: str

    def get(self, element: int, component: int = 1) -> str | None:
        """Element ``element`` (1-based, as the standards number them: BEG03 → ``get(3)``),
        component ``component`` (1-based), stripped; None when absent or blank."""
        if element < 1 or element > len(self.elements):
            return None
        parts = self.elements[element - 1]
        if component < 1 or component > len(parts):
            return None
        value = parts[component - 1].strip()
        return value or None


@dataclass
class Defect:
    """One envelope or transaction defect: its code, a readable detail, the segments involved."""

    code: str
    detail: str
    segments: list[str] = field(default_factory=list)
    group_control_number: str | None = None
    transaction_control_number: str | None = None
    transaction_set: str | None = None


@dataclass
class Transaction:
    """One transaction set (X12 ST..SE) or message (EDIFACT UNH..UNT).

    Attributes:
        set_id: ``850`` / ``855`` / ``856`` or ``ORDERS`` / ``ORDRSP`` / ``DESADV`` (any other
            identifier as sent).
        control_number: ST02 / UNH0062.
        version: GS08 / ST03 (X12) or ``D:96A:UN`` (EDIFACT S009).
        segments: the segments between the header and the trailer.
        all_segments: header, body and trailer texts (what a quarantine row keeps).
        defects: envelope defects of its ST/SE (UNH/UNT) pair.
        broken: a transaction defect when it cannot be trusted (quarantined whole), else None.
        rejected: the transaction defect code that kept it from landing (set by the reader:
            ``broken``'s code, an unknown set, a missing BEG …), None when it landed. The
            acknowledgments read it.
    """

    set_id: str
    control_number: str
    version: str | None
    segments: list[Segment] = field(default_factory=list)
    all_segments: list[str] = field(default_factory=list)
    defects: list[Defect] = field(default_factory=list)
    broken: Defect | None = None
    rejected: str | None = None


@dataclass
class Group:
    """One functional group (GS..GE, UNG..UNE); EDIFACT messages without UNG sit in one
    group with ``control_number`` None."""

    functional_id: str | None
    control_number: str | None
    sender_id: str | None
    receiver_id: str | None
    version: str | None
    date: str | None = None
    header: str = ""
    transactions: list[Transaction] = field(default_factory=list)
    defects: list[Defect] = field(default_factory=list)


@dataclass
class Interchange:
    """One interchange (ISA..IEA, UNB..UNZ).

    Attributes:
        standard: :data:`X12` or :data:`EDIFACT`.
        sender_id / sender_qualifier: ISA06 / ISA05 (UNB S002 0004 / 0007), trimmed: the
            trading partner that sent it.
        receiver_id / receiver_qualifier: ISA08 / ISA07 (UNB S003).
        control_number: ISA13 / UNB 0020.
        date, time: ISA09 (YYMMDD), ISA10 (HHMM) / UNB S004.
        test_indicator: ISA15 (``P``/``T``) / UNB 0035 (``1`` = test).
        version: ISA12 / UNB S001 (``UNOC:3``).
        separators: X12: (element, component, segment terminator, repetition ISA11).
        header, trailer: the ISA/UNB and IEA/UNZ segment texts.
        text: the interchange's text (for a deterministic acknowledgment id).
    """

    standard: str
    sender_id: str
    sender_qualifier: str | None
    receiver_id: str
    receiver_qualifier: str | None
    control_number: str
    date: str | None
    time: str | None
    test_indicator: str | None
    version: str | None
    separators: tuple[str, str, str, str] = ("*", ">", "~", "U")
    header: str = ""
    trailer: str | None = None
    groups: list[Group] = field(default_factory=list)
    defects: list[Defect] = field(default_factory=list)
    text: str = ""


def same_number(a: str | None, b: str | None) -> bool:
    """Control numbers/counts compare as numbers when both are digits (``0001`` = ``1``)."""
    a, b = (a or "").strip(), (b or "").strip()
    if a.isdigit() and b.isdigit():
        return int(a) == int(b)
    return a == b


def trailer_defects(
    trailer: Segment,
    header: str | None,
    control_number: str | None,
    count: int,
    *,
    reference: tuple[str, str, str],
    counted: tuple[str, str, str],
    group_control_number: str | None = None,
) -> list[Defect]:
    """The defects of a trailer segment (IEA, GE, SE; UNZ, UNE, UNT): element 2 must repeat its
    header's ``control_number`` and element 1 must equal ``count``, what it closes.

    ``reference`` is ``(code, trailer element, header element)``, e.g.
    ``("se_control_number_mismatch", "SE02", "ST02")``; ``counted`` is ``(code, trailer
    element, what is counted)``, e.g. ``("ge_transaction_count_mismatch", "GE01",
    "transaction set(s)")``. Each defect names the header and trailer segments.
    """
    segments = [header or "", trailer.text]
    defects = []
    code, trailer_element, header_element = reference
    if not same_number(trailer.get(2), control_number):
        defects.append(
            Defect(
                code,
                f"{trailer_element} {trailer.get(2)} does not match {header_element} "
                f"{control_number}",
                list(segments),
                group_control_number,
            )
        )
    code, trailer_element, what = counted
    if not same_number(trailer.get(1), str(count)):
        defects.append(
            Defect(
                code,
                f"{trailer_element} {trailer.get(1)} but {count} {what}",
                list(segments),
                group_control_number,
            )
        )
    return defects


def _split_x12(text: str, element: str, component: str) -> Segment:
    parts = text.split(element)
    tag = parts[0].strip()
    elements = tuple(tuple(p.split(component)) if component else (p,) for p in parts[1:])
    return Segment(tag, elements, text)


def read_x12(text: str) -> list[Interchange]:
    """Read every X12 interchange of ``text`` (one file) and check its envelopes.

    Separators come from the first ISA header (fixed width, :data:`ISA_LENGTH`); line breaks
    around segments are ignored. Each transaction is kept with its segments; defects are
    recorded on the interchange, group or transaction (module docstring).

    Raises:
        EdiSyntaxError: the text does not start with an ISA header of 106 characters.
    """
    body = text.lstrip("\ufeff \t\r\n")
    if not body.startswith("ISA") or len(body) < ISA_LENGTH:
        raise EdiSyntaxError("not an X12 interchange: no ISA header at the start")
    element, component, terminator = body[3], body[104], body[105]
    isa_parts = body[:105].split(element)
    if len(isa_parts) != 17 or element.isalnum() or terminator.isalnum():
        raise EdiSyntaxError(
            "ISA header is not the fixed-width 106 characters (16 elements): separators "
            "cannot be read"
        )
    repetition = isa_parts[11] if len(isa_parts[11]) == 1 and not isa_parts[11].isalnum() else ""
    raw = [s.strip("\r\n") for s in body.split(terminator)]
    interchanges: list[Interchange] = []
    current: Interchange | None = None
    group: Group | None = None
    txn: Transaction | None = None
    texts: list[str] = []

    def close_transaction(reason: str) -> None:
        nonlocal txn
        if txn is not None:
            txn.broken = Defect(
                "se_missing",
                f"ST {txn.set_id} {txn.control_number} has no SE trailer ({reason})",
                list(txn.all_segments),
                group.control_number if group else None,
                txn.control_number,
                txn.set_id,
            )
            txn = None

    def close_group(reason: str) -> None:
        nonlocal group
        if group is not None:
            close_transaction(reason)
            if group.header:
                group.defects.append(
                    Defect(
                        "ge_missing",
                        f"GS {group.control_number} has no GE trailer ({reason})",
                        group_control_number=group.control_number,
                    )
                )
            group = None

    def close_interchange(reason: str) -> None:
        nonlocal current
        if current is not None:
            close_group(reason)
            current.defects.append(
                Defect("iea_missing", f"ISA {current.control_number} has no IEA ({reason})")
            )
            current.text = terminator.join(texts)
            current = None

    for seg_text in raw:
        if not seg_text.strip():
            continue
        seg = _split_x12(seg_text.strip(), element, component)
        tag = seg.tag
        if tag == "ISA":
            close_interchange("another ISA follows")
            texts = [seg.text]
            p = seg.text.split(element)
            p += [""] * (17 - len(p))
            current = Interchange(
                standard=X12,
                sender_qualifier=p[5].strip() or None,
                sender_id=p[6].strip(),
                receiver_qualifier=p[7].strip() or None,
                receiver_id=p[8].strip(),
                date=p[9].strip() or None,
                time=p[10].strip() or None,
                version=p[12].strip() or None,
                control_number=p[13].strip(),
                test_indicator=p[15].strip() or None,
                separators=(element, component, terminator, repetition or "U"),
                header=seg.text,
            )
            interchanges.append(current)
            continue
        if current is None:
            # after an IEA: text outside any interchange is kept with the last one
            last = interchanges[-1]
            last.defects.append(
                Defect(
                    "segment_outside_transaction",
                    f"segment {tag!r} after IEA, outside any interchange",
                    [seg.text],
                )
            )
            continue
        texts.append(seg.text)
        if tag == "IEA":
            close_group("IEA follows")
            current.trailer = seg.text
            current.defects += trailer_defects(
                seg,
                current.header,
                current.control_number,
                len(current.groups),
                reference=("iea_control_number_mismatch", "IEA02", "ISA13"),
                counted=("iea_group_count_mismatch", "IEA01", "GS group(s)"),
            )
            current.text = terminator.join(texts)
            current = None
            continue
        if tag == "GS":
            close_group("another GS follows")
            group = Group(
                functional_id=seg.get(1),
                control_number=seg.get(6),
                sender_id=seg.get(2),
                receiver_id=seg.get(3),
                version=seg.get(8),
                date=seg.get(4),
                header=seg.text,
            )
            current.groups.append(group)
            continue
        if tag == "GE":
            if group is None:
                current.defects.append(
                    Defect("segment_outside_transaction", "GE without GS", [seg.text])
                )
                continue
            close_transaction("GE follows")
            group.defects += trailer_defects(
                seg,
                group.header,
                group.control_number,
                len(group.transactions),
                reference=("ge_control_number_mismatch", "GE02", "GS06"),
                counted=("ge_transaction_count_mismatch", "GE01", "transaction set(s)"),
                group_control_number=group.control_number,
            )
            group = None
            continue
        if tag == "ST":
            close_transaction("another ST follows")
            if group is None:
                group = Group(None, None, None, None, None)
                current.groups.append(group)
                current.defects.append(
                    Defect("gs_missing", "ST outside a GS functional group", [seg.text])
                )
            txn = Transaction(
                set_id=seg.get(1) or "",
                control_number=seg.get(2) or "",
                version=seg.get(3) or group.version,
                all_segments=[seg.text],
            )
            group.transactions.append(txn)
            continue
        if txn is None:
            current.defects.append(
                Defect(
                    "segment_outside_transaction",
                    f"segment {tag!r} outside any transaction set",
                    [seg.text],
                    group.control_number if group else None,
                )
            )
            continue
        txn.all_segments.append(seg.text)
        if tag == "SE":
            txn.defects += trailer_defects(
                seg,
                txn.all_segments[0],
                txn.control_number,
                len(txn.all_segments),
                reference=("se_control_number_mismatch", "SE02", "ST02"),
                counted=("se_segment_count_mismatch", "SE01", "segments from ST to SE"),
            )
            txn = None
            continue
        if not _TAG.match(tag) and txn.broken is None:
            txn.broken = Defect(
                "unparseable_segment",
                f"segment {len(txn.all_segments)} of the transaction set has no valid tag: "
                f"{seg.text[:60]!r}",
            )
        txn.segments.append(seg)
    close_interchange("end of file")
    for interchange in interchanges:
        for grp in interchange.groups:
            for txn_ in grp.transactions:
                if txn_.broken is not None and not txn_.broken.segments:
                    txn_.broken.segments = list(txn_.all_segments)
    return interchanges
