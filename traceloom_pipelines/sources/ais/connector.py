"""How AIS data arrives: NMEA 0183 ``!AIVDM``/``!AIVDO`` sentences in drop files (``*.nmea``,
``*.txt``), one sentence a line, optionally behind an IEC 62320 tag block (``\\c:…,s:…*hh\\``),
decoded with pyais into one record per AIS message (000 §3.3).

Fragments of a multi-sentence message (type 5 static and voyage data takes two) are put
together by sequence id and channel in any order within the file — pyais's own stream reader
drops out-of-order fragments, this reader does not. A message that cannot be read is still a
record: it carries ``error`` (a code, see :data:`ERROR_CODES`), ``error_detail`` and the raw
sentences, and the contract quarantines it with that code as the failed check.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from pyais.exceptions import AISBaseException
from pyais.messages import AISSentence, NMEAMessage, NMEASentenceFactory

from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.pull import (
    PullBatch,
    PullResource,
    latest_timestamp,
    pull_env_config,
    write_pull_document,
)

# Why a record is an error (each is a check in the contract, so quarantine reasons name it).
ERROR_CODES = {
    "checksum": "the sentence's checksum is missing or does not match",
    "not_ais": "the line is not an AIVDM/AIVDO sentence",
    "missing_fragment": "a fragment of a multi-sentence message never arrived",
    "undecodable": "pyais could not decode the payload",
}
POSITION_TYPES = (1, 2, 3, 18, 19)
STATIC_TYPES = (5, 24)
# Unix seconds later than this are read as milliseconds (some receivers stamp ms).
_MAX_UNIX_SECONDS = 10_000_000_000


def _dumps(record: object) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _plain(value: object) -> object:
    """A pyais field as JSON: enums as their number, bytes as text, floats as is."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    return value


def _text(value: object) -> str | None:
    """AIS 6-bit text without the ``@`` padding and trailing blanks; ``None`` when empty."""
    if not isinstance(value, str):
        return None
    cleaned = value.replace("@", " ").strip()
    return cleaned or None


def _received_at(unix: object) -> str | None:
    """Tag-block ``c:`` (Unix seconds, or ms) as ISO-8601 UTC; ``None`` if absent or absurd."""
    try:
        seconds = int(str(unix))
    except (TypeError, ValueError):
        return None
    if seconds > _MAX_UNIX_SECONDS:
        seconds //= 1000
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    if not 1990 <= moment.year <= 2100:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def message_fields(decoded: dict) -> dict[str, object]:
    """The landed fields of one decoded AIS message (pyais ``asdict()``).

    Position reports (types 1/2/3, 18, 19): ``mmsi``, ``latitude``/``longitude`` (degrees;
    91/181 mean not available and are kept as sent), ``sog_knots`` (speed over ground),
    ``cog_degrees`` (course over ground), ``heading_degrees`` (511 = not available),
    ``nav_status`` (types 1-3), ``utc_second``. Static and voyage data (type 5): ``imo_number``,
    ``call_sign``, ``ship_name``, ``ship_type``, ``destination``, ``eta_month``/``eta_day``/
    ``eta_hour``/``eta_minute`` (UTC, 0/24/60 = not available), ``draught_m``. Static data
    report (type 24): ``part_number`` 0 (A: ``ship_name``) or 1 (B: ``call_sign``,
    ``ship_type``). Text fields lose AIS padding (``@``) and trailing blanks.
    """
    msg_type = decoded.get("msg_type")
    out: dict[str, object] = {"msg_type": msg_type, "mmsi": decoded.get("mmsi")}
    if msg_type in POSITION_TYPES:
        out |= {
            "latitude": decoded.get("lat"),
            "longitude": decoded.get("lon"),
            "sog_knots": decoded.get("speed"),
            "cog_degrees": decoded.get("course"),
            "heading_degrees": decoded.get("heading"),
            "nav_status": _plain(decoded.get("status")),
            "utc_second": decoded.get("second"),
        }
    if msg_type == 5:
        out |= {
            "imo_number": decoded.get("imo") or None,
            "call_sign": _text(decoded.get("callsign")),
            "ship_name": _text(decoded.get("shipname")),
            "ship_type": _plain(decoded.get("ship_type")),
            "destination": _text(decoded.get("destination")),
            "eta_month": decoded.get("month"),
            "eta_day": decoded.get("day"),
            "eta_hour": decoded.get("hour"),
            "eta_minute": decoded.get("minute"),
            "draught_m": decoded.get("draught"),
        }
    if msg_type == 19:
        out |= {
            "ship_name": _text(decoded.get("shipname")),
            "ship_type": _plain(decoded.get("ship_type")),
        }
    if msg_type == 24:
        out |= {
            "part_number": decoded.get("partno"),
            "ship_name": _text(decoded.get("shipname")),
            "call_sign": _text(decoded.get("callsign")),
            "ship_type": _plain(decoded.get("ship_type")),
        }
    return out


@dataclass
class _Pending:
    """Fragments of one multi-sentence message seen so far."""

    first_line: int
    count: int
    fragments: dict[int, tuple[AISSentence, str]] = field(default_factory=dict)


def _split_tag_block(line: str) -> tuple[str | None, str]:
    """``(tag block text or None, sentence)`` of one line."""
    if line.startswith("\\"):
        end = line.find("\\", 1)
        if end > 0:
            return line[1:end], line[end + 1 :]
    return None, line


def _tag_fields(sentence: AISSentence) -> dict[str, object]:
    tag = sentence.tag_block
    if tag is None:
        return {}
    try:
        tag.init()
    except (AISBaseException, ValueError, IndexError):
        return {}
    return {
        "received_at": _received_at(tag.receiver_timestamp),
        "source_station": tag.source_station,
    }


def _error(line_no: int, code: str, detail: str, raw: list[str]) -> tuple[int, str]:
    return line_no, _dumps(
        {"error": code, "error_detail": detail, "sentences": "\n".join(raw), "msg_type": None}
    )


def _decode(line_no: int, parts: list[tuple[AISSentence, str]]) -> tuple[int, str]:
    raw = [text for _, text in parts]
    try:
        decoded = NMEAMessage.assemble_from_iterable([s for s, _ in parts]).decode().asdict()
    except (AISBaseException, ValueError, IndexError, KeyError, TypeError) as error:
        return _error(line_no, "undecodable", f"{type(error).__name__}: {error}", raw)
    record = {
        "error": None,
        **message_fields(decoded),
        **_tag_fields(parts[0][0]),
        "fragment_count": len(parts),
        "sentences": "\n".join(raw),
    }
    return line_no, _dumps(record)


def iter_ais_records(path: Path) -> Iterator[tuple[int, str]]:
    """Records of one NMEA drop file: one per AIS message, keyed by its first line number.

    Each line is one sentence (``!AIVDM,…*hh``), optionally behind a tag block whose ``c:``
    (receiver time, Unix seconds or ms) becomes ``received_at`` (ISO-8601 UTC) and ``s:``
    ``source_station``. A valid record: ``error`` null, the fields of :func:`message_fields`,
    ``fragment_count`` and the raw ``sentences`` (newline-joined). Fragments of a multi-part
    message are grouped by (sequence id, channel) and decoded once all have arrived, whatever
    their order in the file; the record's ordinal is the line of its first fragment seen.

    Nothing is dropped: a blank line is skipped, any other line becomes a record or part of
    one. Records with ``error`` (:data:`ERROR_CODES`) keep the raw text: ``checksum`` (missing
    or wrong checksum, which pyais would otherwise decode), ``not_ais`` (not an AIVDM/AIVDO
    sentence), ``missing_fragment`` (fragments left without their siblings at the end of the
    file, or superseded by a new message on the same sequence id), ``undecodable``.
    NMEA is ASCII: the file is decoded strictly, so a byte outside ASCII raises
    :class:`UnicodeDecodeError` and the loader quarantines the whole file (``_file:encoding``).
    """
    pending: dict[tuple[object, object], _Pending] = {}
    with path.open("r", encoding="ascii", errors="strict", newline=None) as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            _, sentence_text = _split_tag_block(text)
            if not sentence_text.startswith(("!AIVDM", "!AIVDO")):
                yield _error(line_no, "not_ais", "not an AIVDM/AIVDO sentence", [text])
                continue
            try:
                sentence = NMEASentenceFactory.produce(text.encode("ascii", errors="replace"))
            except (AISBaseException, ValueError, IndexError) as error:
                yield _error(line_no, "undecodable", f"{type(error).__name__}: {error}", [text])
                continue
            if not isinstance(sentence, AISSentence):
                yield _error(line_no, "not_ais", type(sentence).__name__, [text])
                continue
            if not sentence.is_valid:
                detail = "no checksum" if sentence.checksum == -1 else "checksum mismatch"
                yield _error(line_no, "checksum", detail, [text])
                continue
            if sentence.frag_cnt <= 1:
                yield _decode(line_no, [(sentence, text)])
                continue
            key = (sentence.seq_id, sentence.channel)
            group = pending.get(key)
            if group is not None and (
                group.count != sentence.frag_cnt or sentence.frag_num in group.fragments
            ):
                # A new message reuses the sequence id before the old one was complete.
                yield _error(
                    group.first_line,
                    "missing_fragment",
                    f"{len(group.fragments)} of {group.count} fragments",
                    [t for _, (_, t) in sorted(group.fragments.items())],
                )
                group = None
            if group is None:
                group = pending[key] = _Pending(line_no, sentence.frag_cnt)
            group.fragments[sentence.frag_num] = (sentence, text)
            if len(group.fragments) == group.count:
                del pending[key]
                yield _decode(
                    group.first_line, [group.fragments[n] for n in sorted(group.fragments)]
                )
    for group in pending.values():
        yield _error(
            group.first_line,
            "missing_fragment",
            f"{len(group.fragments)} of {group.count} fragments",
            [t for _, (_, t) in sorted(group.fragments.items())],
        )


# -- pull resource: AIS lines fetched over HTTP by the ingestion asset ------------------------

AIS_ENV_PREFIX = "TRACELOOM_AIS"
AIS_RESOURCE_KEY = "ais_feed"
PUBLIC_TENANT = "public"


def latest_received_at(path: Path) -> str | None:
    """The latest ``received_at`` (ISO-8601 UTC, from tag-block ``c:``) among the messages of
    an NMEA file, or None when no message carries one."""
    received = []
    for _, text in iter_ais_records(path):
        record = json.loads(text)
        received.append(record.get("received_at"))
    return latest_timestamp(received)


class AisHttpResource(PullResource):
    """Pulls AIS NMEA sentences from an HTTP endpoint (000 §3.3) for tenant ``public``.

    One ``GET <base_url>/<path>`` per run (``TRACELOOM_AIS_URL``, ``TRACELOOM_AIS_PATH``); the
    endpoint answers plain text, one ``!AIVDM``/``!AIVDO`` sentence a line, optionally behind an
    IEC 62320 tag block whose ``c:`` is the receiver time. The answer is written unchanged as
    ``ais_<content digest>.nmea`` into ``landing/public/ais/messages/`` and landed by
    :func:`iter_ais_records` exactly like a dropped file (fragments joined, bad checksums
    quarantined). An answer holding nothing but whitespace writes no file.

    Cursor (optional): the latest ``received_at`` landed, ISO-8601 UTC (``2026-02-04T09:00:00Z``),
    sent as query parameter ``<since_param>`` (default ``since``) on the next pull, so an
    endpoint that supports it answers only lines received at or after that instant. Endpoints
    that ignore it answer their whole window: the same answer gets the same file name (the
    ledger skips it) and repeated sentences are deduplicated on landing. Lines without a tag-block
    time never move the cursor. Empty ``since_param`` sends no cursor.

    Attributes (besides :class:`~traceloom_pipelines.landing.pull.PullResource`'s):
        tenants: defaults to ``public`` (any other tenant raises ``ValueError``).
        path: path of the sentences under ``base_url`` (``TRACELOOM_AIS_PATH``; empty: the
            base URL itself).
        since_param: name of the cursor query parameter (``TRACELOOM_AIS_SINCE_PARAM``).
    """

    tenants: str = PUBLIC_TENANT
    path: str = ""
    since_param: str = "since"

    @property
    def source(self) -> str:
        return "ais"

    def pull(
        self,
        *,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        """Fetch the sentences received since ``cursor`` and write them as one ``.nmea`` file.

        Returns the batch with the new cursor (latest ``received_at`` in the answer, or the old
        cursor when none is later).

        Raises:
            ValueError: an entity other than ``messages``, or a tenant other than ``public``.
            SourceRequestError, CircuitOpenError: the request failed for good (nothing written).
        """
        if entity.entity != "messages":
            raise ValueError(f"the AIS feed does not serve {entity.entity}")
        if tenant_id != PUBLIC_TENANT:
            raise ValueError(
                f"{AIS_ENV_PREFIX} is a public feed and lands under tenant {PUBLIC_TENANT!r}, "
                f"not {tenant_id!r}: set {AIS_ENV_PREFIX}_TENANTS={PUBLIC_TENANT} or leave it unset"
            )
        params = {self.since_param: cursor} if cursor and self.since_param else {}
        body = self.client(tenant_id).get_bytes(
            self.path or self.base_url_for(tenant_id), params, accept="text/plain, */*;q=0.1"
        )
        if not body.strip():
            log(f"ais/messages: no sentences since {cursor or 'the start'}")
            return PullBatch(files=[], next_cursor=None, metadata={"bytes": 0})
        written = write_pull_document(landing_root, tenant_id, entity, "ais", ".nmea", body)
        next_cursor = latest_timestamp([latest_received_at(written)], cursor)
        lines = sum(1 for line in body.splitlines() if line.strip())
        log(f"ais/messages: {lines} line(s) since {cursor or 'the start'} -> {written.name}")
        return PullBatch(
            files=[written],
            next_cursor=next_cursor if next_cursor != cursor else None,
            metadata={"file": written.name, "lines": lines, "since": cursor or ""},
        )


def ais_from_env() -> AisHttpResource:
    """The AIS pull resource from ``TRACELOOM_AIS_*`` (disabled when ``TRACELOOM_AIS_URL`` is
    unset: the asset lands drop files only; ``TRACELOOM_AIS_PATH`` and
    ``TRACELOOM_AIS_SINCE_PARAM`` are optional)."""
    overrides = {}
    for field_name in ("path", "since_param"):
        variable = f"{AIS_ENV_PREFIX}_{field_name.upper()}"
        if os.environ.get(variable):
            overrides[field_name] = os.environ[variable]
    return AisHttpResource(**pull_env_config(AIS_ENV_PREFIX, **overrides))
