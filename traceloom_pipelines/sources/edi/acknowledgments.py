"""Functional acknowledgments for the sender: an X12 997 or an EDIFACT CONTRL per interchange.

Written by the EDI reader (``connector.py``) once it has read a drop file to its end, one file
per interchange, to ``<data_dir>/edi/outbound/<tenant>/<partner>/``:

- ``997_<inbound ISA13>_<digest>.x12`` — X12 997 (004010): a TA1 interchange acknowledgment
  when the interchange envelope is off (TA104 ``E``; TA105 ``001`` control numbers differ,
  ``021`` group count, ``023`` IEA missing), then per inbound functional group one 997
  transaction set: AK1 (GS01, GS06), per transaction set AK2 (ST01, ST02) and AK5 (``A``
  accepted, ``E`` accepted with errors — AK502 ``3`` SE02 ≠ ST02, ``4`` SE01 count off —,
  ``R`` rejected — AK502 ``1`` set not supported, ``2`` SE missing, ``5`` segments in error),
  AK9 (``A``/``E``/``P`` partially/``R``; included, received, accepted counts; AK905 ``4`` GE02
  ≠ GS06, ``5`` GE01 count off, ``3`` GE missing).
- ``CONTRL_<inbound UNB 0020>_<digest>.edi`` — EDIFACT CONTRL (D:3, ISO 9735): UCI for the
  interchange (0083 action ``7`` acknowledged, ``4`` rejected when every message was; 0085
  ``28`` references do not match, ``29`` control count off, ``13`` UNZ missing) and one UCM per
  message (action ``7``/``4``; 0085 ``28``/``29`` for UNT defects, ``17`` no agreement for a
  message type this entity does not take, ``13`` missing segment/trailer, ``12`` invalid
  segment).

"Accepted" means what the reader did: the transaction's records were handed to landing (the
contract then validates each record; a record failing it is quarantined, not rejected back).
A 997/CONTRL acknowledges syntax, not business content.

The acknowledgment's own control number (ISA13 = GS06, UNB 0020) is derived from a sha256 of
the inbound interchange (standard, sender, receiver, control number, text): re-reading the same
interchange (a transaction retried by the lake) writes the same file name with the same
numbers. Files are written as ``<name>.part``, fsynced and renamed (a reader of the outbound
folder never sees half a file).
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from traceloom_pipelines.sources.edi.envelope import X12, Group, Interchange, Transaction

OUTBOUND = Path("edi") / "outbound"
ACCEPTED, WITH_ERRORS, REJECTED = "A", "E", "R"
# X12 functional identifier (GS01) of each transaction set acknowledged without a GS.
FUNCTIONAL_IDS = {"850": "PO", "855": "PR", "856": "SH"}
TA1_NOTES = {
    "iea_control_number_mismatch": "001",
    "iea_group_count_mismatch": "021",
    "iea_missing": "023",
}
AK5_CODES = {
    "se_control_number_mismatch": "3",
    "se_segment_count_mismatch": "4",
    "unknown_transaction_set": "1",
    "other_entity_transaction_set": "1",
    "se_missing": "2",
}
AK9_CODES = {
    "ge_missing": "3",
    "ge_control_number_mismatch": "4",
    "ge_transaction_count_mismatch": "5",
}
CONTRL_ERRORS = {
    "unz_control_reference_mismatch": "28",
    "unz_count_mismatch": "29",
    "unz_missing": "13",
    "unt_message_reference_mismatch": "28",
    "unt_segment_count_mismatch": "29",
    "unknown_transaction_set": "17",
    "other_entity_transaction_set": "17",
    "unparseable_segment": "12",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(text: str) -> str:
    """``text`` as one safe file/folder name: characters other than letters, digits, ``.``,
    ``_``, ``-`` become ``_``; empty text becomes ``_unknown``."""
    cleaned = _UNSAFE.sub("_", text.strip())[:100].lstrip(".")
    return cleaned or "_unknown"


def transaction_status(txn: Transaction) -> str:
    """``R`` if the transaction did not land, ``E`` if it landed with envelope defects, ``A``."""
    if txn.rejected is not None:
        return REJECTED
    return WITH_ERRORS if txn.defects else ACCEPTED


def _digest(ic: Interchange) -> str:
    key = "|".join((ic.standard, ic.sender_id, ic.receiver_id, ic.control_number, ic.text))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def ack_control_number(ic: Interchange) -> int:
    """The acknowledgment's own control number (1 … 999,999,999), from the interchange."""
    return int(_digest(ic)[:15], 16) % 999_999_999 + 1


def _group_status(group: Group) -> str:
    statuses = [transaction_status(t) for t in group.transactions]
    rejected = statuses.count(REJECTED)
    if statuses and rejected == len(statuses):
        return REJECTED
    if rejected:
        return "P"
    if group.defects or WITH_ERRORS in statuses:
        return WITH_ERRORS
    return ACCEPTED


def x12_997(ic: Interchange, now: datetime | None = None) -> str:
    """The 997 interchange acknowledging ``ic`` (module docstring), one segment per line."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    e, c, t, rep = ic.separators
    ctrl = ack_control_number(ic)
    isa = e.join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            (ic.receiver_qualifier or "ZZ").ljust(2)[:2],
            ic.receiver_id.ljust(15)[:15],
            (ic.sender_qualifier or "ZZ").ljust(2)[:2],
            ic.sender_id.ljust(15)[:15],
            at.strftime("%y%m%d"),
            at.strftime("%H%M"),
            rep,
            (ic.version or "00401").ljust(5)[:5],
            f"{ctrl:09d}",
            "0",
            ic.test_indicator or "P",
            c,
        ]
    )
    segments = [isa]
    notes = [TA1_NOTES[d.code] for d in ic.defects if d.code in TA1_NOTES]
    if notes:
        segments.append(
            e.join(["TA1", ic.control_number, ic.date or "", ic.time or "", WITH_ERRORS, notes[0]])
        )
    groups = [g for g in ic.groups if g.transactions or g.header]
    if groups:
        first = groups[0]
        segments.append(
            e.join(
                [
                    "GS",
                    "FA",
                    first.receiver_id or ic.receiver_id,
                    first.sender_id or ic.sender_id,
                    at.strftime("%Y%m%d"),
                    at.strftime("%H%M"),
                    str(ctrl),
                    "X",
                    first.version or "004010",
                ]
            )
        )
        for number, group in enumerate(groups, start=1):
            st_ctrl = f"{number:04d}"
            body = [e.join(["ST", "997", st_ctrl])]
            functional_id = group.functional_id or FUNCTIONAL_IDS.get(
                group.transactions[0].set_id if group.transactions else "", "PO"
            )
            body.append(e.join(["AK1", functional_id, group.control_number or "0"]))
            for txn in group.transactions:
                body.append(e.join(["AK2", txn.set_id, txn.control_number]))
                status = transaction_status(txn)
                codes = [txn.rejected] if txn.rejected else [d.code for d in txn.defects]
                ak5 = ["AK5", status]
                if status != ACCEPTED:
                    ak5.append(next((AK5_CODES[x] for x in codes if x in AK5_CODES), "5"))
                body.append(e.join(ak5))
            accepted = sum(transaction_status(x) != REJECTED for x in group.transactions)
            ak9 = [
                "AK9",
                _group_status(group),
                str(len(group.transactions)),
                str(len(group.transactions)),
                str(accepted),
            ]
            ak9 += [AK9_CODES[d.code] for d in group.defects if d.code in AK9_CODES][:5]
            body.append(e.join(ak9))
            body.append(e.join(["SE", str(len(body) + 1), st_ctrl]))
            segments += body
        segments.append(e.join(["GE", str(len(groups)), str(ctrl)]))
    segments.append(e.join(["IEA", str(1 if groups else 0), f"{ctrl:09d}"]))
    return "".join(f"{s}{t}\n" for s in segments)


def _escape(text: str) -> str:
    return re.sub(r"([?+:'*])", r"?\1", text)


def _party(party_id: str, qualifier: str | None) -> str:
    return _escape(party_id) + (f":{_escape(qualifier)}" if qualifier else "")


def edifact_contrl(ic: Interchange, now: datetime | None = None) -> str:
    """The CONTRL interchange acknowledging ``ic`` (module docstring), one segment per line."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    ctrl = str(ack_control_number(ic))
    txns = [t for g in ic.groups for t in g.transactions]
    all_rejected = bool(txns) and all(transaction_status(t) == REJECTED for t in txns)
    uci = [
        "UCI",
        _escape(ic.control_number),
        _party(ic.sender_id, ic.sender_qualifier),
        _party(ic.receiver_id, ic.receiver_qualifier),
        "4" if all_rejected else "7",
    ]
    errors = [CONTRL_ERRORS[d.code] for d in ic.defects if d.code in CONTRL_ERRORS]
    if errors:
        uci.append(errors[0])
    message = ["UNH+1+CONTRL:D:3:UN", "+".join(uci)]
    for txn in txns:
        status = transaction_status(txn)
        codes = [txn.rejected] if txn.rejected else [d.code for d in txn.defects]
        version = ":".join([txn.set_id, *(txn.version or "D:96A:UN").split(":")])
        ucm = ["UCM", _escape(txn.control_number), version, "4" if status == REJECTED else "7"]
        if status != ACCEPTED:
            ucm.append(next((CONTRL_ERRORS[x] for x in codes if x in CONTRL_ERRORS), "13"))
        message.append("+".join(ucm))
    message.append(f"UNT+{len(message) + 1}+1")
    unb = "+".join(
        [
            "UNB",
            ic.version or "UNOC:3",
            _party(ic.receiver_id, ic.receiver_qualifier),
            _party(ic.sender_id, ic.sender_qualifier),
            at.strftime("%y%m%d:%H%M"),
            ctrl,
        ]
    )
    segments = [unb, *message, f"UNZ+1+{ctrl}"]
    return "".join(f"{s}'\n" for s in segments)


def acknowledgment_path(data_dir: Path, tenant_id: str, ic: Interchange) -> Path:
    """Where the acknowledgment of ``ic`` is written (module docstring)."""
    kind, suffix = ("997", ".x12") if ic.standard == X12 else ("CONTRL", ".edi")
    name = f"{kind}_{safe_name(ic.control_number)}_{_digest(ic)[:8]}{suffix}"
    return data_dir / OUTBOUND / safe_name(tenant_id) / safe_name(ic.sender_id) / name


def write_acknowledgment(
    data_dir: Path, tenant_id: str, ic: Interchange, now: datetime | None = None
) -> Path:
    """Write the 997 / CONTRL of ``ic`` atomically; return its path.

    Raises:
        OSError: the outbound folder cannot be created or the file written.
    """
    path = acknowledgment_path(data_dir, tenant_id, ic)
    text = x12_997(ic, now) if ic.standard == X12 else edifact_contrl(ic, now)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with open(partial, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return path
