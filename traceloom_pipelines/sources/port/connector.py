"""How Hong Kong port data arrives: Marine Department vessel-movement XML feeds and DATA.GOV.HK
statistics CSVs, turned into records for the landing machinery, plus the shipped public samples.

Every reader here is a :data:`~traceloom_pipelines.landing.entity.RecordReader`: it turns one drop
file into ``(1-based record ordinal, record JSON text)`` pairs and never drops input. What cannot
be read as a record (a file that is not well-formed XML, an element that is not a vessel row) is
still yielded as its raw text, which is not JSON, so validation quarantines it with
``_record:valid_json`` (docs/landing_contract.md). A CSV whose header names a column twice
cannot be read without losing one of the two columns: its reader raises
:class:`~traceloom_pipelines.landing.readers.DuplicateHeaderError` before yielding anything, and
the loader quarantines the whole file as ``_file:duplicate_header``, as it does for the shared
CSV reader.

Values are kept as the source published them: text, with the source's own spacing and spelling;
the landing contract (``contract.py``) says what the text must parse as, and dbt staging casts.
"""

from __future__ import annotations

import csv
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.pull import (
    PullBatch,
    PullResource,
    pull_env_config,
    write_pull_document,
)
from traceloom_pipelines.landing.readers import check_unique_header

# Marine Department feeds (000 §3.3): one <G_SQL1> element per vessel under a root named after
# the feed (<RP04005IXML>, <RP05005IXML> ...).
MARDEP_RECORD_ELEMENT = "G_SQL1"
FEED_FIELD = "_feed"

# Public feeds land under this tenant folder (docs/landing_contract.md).
PUBLIC_TENANT = "public"
SYSTEM = "port"

# Shipped sample file -> the entity (drop folder) it lands as.
SAMPLE_FILES: dict[str, str] = {
    "mardep_RP04005i_expected_arrivals.xml": "vessel_expected_arrivals",
    "mardep_RP05005i_arrived_last_36h.xml": "vessels_arrived",
    "mardep_RP05505i_departed_last_36h.xml": "vessels_departed",
    "mardep_RP06005i_vessels_in_port.xml": "vessels_in_port",
    "port_cargo_stats_table1_eng.csv": "cargo_throughput",
    "mardep_container_throughput_by_mode_EN.csv": "container_throughput",
}

# A DTD can declare entities (billion laughs, external entities); the feeds never carry one, so
# a file that does is treated as unreadable and quarantined rather than parsed.
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")


def _dumps(record: dict[str, object]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _element_text(element: ET.Element) -> str:
    """The element's content as published: its text, or its inner XML if it has children."""
    if len(element) == 0:
        return element.text or ""
    inner = "".join(ET.tostring(child, encoding="unicode") for child in element)
    return (element.text or "") + inner


def _vessel_record(feed: str, row: ET.Element) -> dict[str, object]:
    record: dict[str, object] = {FEED_FIELD: feed}
    for name, value in row.attrib.items():
        record[f"@{name}"] = value
    for child in row:
        text = _element_text(child)
        if child.tag in record:  # a repeated element keeps every value, in order
            previous = record[child.tag]
            record[child.tag] = (
                [*previous, text] if isinstance(previous, list) else [previous, text]
            )
        else:
            record[child.tag] = text
    return record


def iter_mardep_vessel_records(path: Path) -> Iterator[tuple[int, str]]:
    """Records of one Marine Department vessel-movement XML file (RP04005i, RP05005i, RP05505i,
    RP06005i), one per ``<G_SQL1>`` element, in file order.

    Each record is a JSON object: ``_feed`` (the root element name, e.g. ``RP04005IXML``), then
    every child element of the ``<G_SQL1>`` under its original name (``CALL_SIGN``, ``ETA`` …)
    with its text exactly as published — trailing spaces kept, character references such as
    ``&amp;`` decoded by the XML parser, an empty element as ``""``. An element the row does not
    carry is absent from the record (the feeds omit optional elements such as ``PASI``). Times
    stay text (Hong Kong local time, no offset). A repeated element becomes a list of its texts;
    attributes of ``<G_SQL1>``, if any, appear as ``@name``.

    Nothing is dropped: a file that is not well-formed XML (or declares a DTD) is one record
    holding the raw file text, and a child of the root that is not ``<G_SQL1>`` is a record
    holding that element's XML; neither is JSON, so both are quarantined. The ordinal is the
    1-based position among the root's children. The file is parsed whole (feeds are tens of
    kilobytes), so a truncated file yields no partial records. The raw text of a file that is not
    well-formed is decoded as strict UTF-8: bytes that do not decode raise
    :class:`UnicodeDecodeError` (the loader quarantines the whole file, ``_file:encoding``).
    """
    raw = path.read_bytes()
    try:
        if any(marker in raw for marker in _DTD_MARKERS):
            raise ET.ParseError("a DTD is not accepted in a MarDep feed")
        root = ET.fromstring(raw)
    except ET.ParseError:
        yield 1, raw.decode("utf-8")  # strict: bytes that do not decode: `_file:encoding`
        return
    for ordinal, row in enumerate(root, start=1):
        if row.tag != MARDEP_RECORD_ELEMENT:
            yield ordinal, ET.tostring(row, encoding="unicode").strip()
            continue
        yield ordinal, _dumps(_vessel_record(root.tag, row))


def _csv_rows(path: Path) -> Iterator[list[str]]:
    """Rows of a DATA.GOV.HK CSV (UTF-8, BOM allowed, CRLF or LF), fully blank lines skipped.

    Decoded strictly: bytes that are not UTF-8 raise :class:`UnicodeDecodeError` (the loader
    quarantines the whole file, ``_file:encoding``) instead of landing U+FFFD.
    """
    with path.open("r", encoding="utf-8-sig", errors="strict", newline="") as handle:
        for row in csv.reader(handle):
            if any(cell.strip() for cell in row):
                yield row


def _cargo_header_key(name: str) -> str:
    """A cargo header name as :func:`iter_cargo_throughput_records` matches it: stripped and
    lower-cased (``Shipment_type`` and the ``Port_cargo_throughput_…`` columns are matched
    without regard to case)."""
    return name.strip().lower()


# Port cargo statistics, table 1: one column per year and measure, e.g.
# Port_cargo_throughput_2014, Port_cargo_throughput_percentage_distribution_2014, and a final
# Port_cargo_throughput_average_annual_rate_of_change_2014_2023.
_CARGO_COLUMN = re.compile(
    r"^Port_cargo_throughput_"
    r"(?:(?P<kind>percentage_distribution|average_annual_rate_of_change)_)?"
    r"(?P<start>\d{4})(?:_(?P<end>\d{4}))?$",
    re.IGNORECASE,
)
_CARGO_MEASURES = {
    None: "throughput_kt",
    "percentage_distribution": "percentage_distribution",
    "average_annual_rate_of_change": "average_annual_rate_of_change",
}
CARGO_LABEL_COLUMN = "Shipment_type"


def cargo_column_meaning(header: str) -> tuple[str, str] | None:
    """``(measure, year)`` of one wide cargo-statistics column header, or ``None`` if unknown.

    ``Port_cargo_throughput_2014`` → ``("throughput_kt", "2014")`` (thousand tonnes);
    ``Port_cargo_throughput_percentage_distribution_2014`` → ``("percentage_distribution",
    "2014")`` (percent of the year's overall); ``Port_cargo_throughput_average_annual_rate_of_change
    _2014_2023`` → ``("average_annual_rate_of_change", "2014-2023")`` (percent per year). A year
    range is only read for the rate, and a rate always has one.
    """
    match = _CARGO_COLUMN.match(header.strip())
    if match is None:
        return None
    kind = match["kind"].lower() if match["kind"] else None
    is_rate = kind == "average_annual_rate_of_change"
    if is_rate != (match["end"] is not None):
        return None
    year = f"{match['start']}-{match['end']}" if is_rate else match["start"]
    return _CARGO_MEASURES[kind], year


def iter_cargo_throughput_records(path: Path) -> Iterator[tuple[int, str]]:
    """Records of the port cargo statistics table 1 CSV, unpivoted: one per (row, value column).

    The published table is wide — a ``Shipment_type`` column (``Direct shipment cargo``,
    ``Transhipment cargo``, ``Overall``), then per year a throughput in thousand tonnes and a
    percentage distribution, then one average annual rate of change over the year range.
    Each record is ``{"shipment_type", "year", "measure", "value", "source_column"}``, all text as
    published: ``year`` is ``"2014"`` or, for the rate, ``"2014-2023"``; ``measure`` is
    ``throughput_kt``, ``percentage_distribution`` or ``average_annual_rate_of_change`` (see
    :func:`cargo_column_meaning`); ``value`` is the cell (``null`` when the row has no such cell);
    ``source_column`` the original header. The UTF-8 BOM is stripped before the header is read.

    Nothing is dropped: a column whose header is not understood, or a cell beyond the header, is
    still a record (``measure``/``year`` null, so it is quarantined); a file without a
    ``Shipment_type`` column yields records without ``shipment_type`` (quarantined). Ordinals are
    1-based over the records, row by row, left to right.

    Raises:
        DuplicateHeaderError: two header names are equal once stripped and lower-cased (the way
            the columns are matched), e.g. ``Port_cargo_throughput_2014`` twice: their cells
            would be two values for one (shipment type, year, measure). Raised before any record;
            the loader quarantines the whole file (``_file:duplicate_header``).
        UnicodeDecodeError: the file is not UTF-8 (``_file:encoding``).
    """
    rows = _csv_rows(path)
    header = next(rows, None)
    if header is None:
        return
    check_unique_header(header, _cargo_header_key)
    names = [name.strip() for name in header]
    label = next((i for i, n in enumerate(names) if n.lower() == CARGO_LABEL_COLUMN.lower()), None)
    ordinal = 0
    for row in rows:
        shipment_type = row[label] if label is not None and label < len(row) else None
        for index in range(max(len(names), len(row))):
            if index == label:
                continue
            source_column = header[index] if index < len(header) else None
            meaning = cargo_column_meaning(source_column) if source_column else None
            measure, year = meaning if meaning else (None, None)
            ordinal += 1
            yield (
                ordinal,
                _dumps(
                    {
                        "shipment_type": shipment_type,
                        "year": year,
                        "measure": measure,
                        "value": row[index] if index < len(row) else None,
                        "source_column": source_column,
                    }
                ),
            )


def iter_container_throughput_records(path: Path) -> Iterator[tuple[int, str]]:
    """Records of the container throughput by mode CSV, one per data row, in file order.

    Each record maps the original header names (``Year``, ``Month``, ``Seaborne ( '000 TEUs)`` …)
    to the cells as published (``Month`` is ``All`` for an annual total or ``Jan`` … ``Dec``;
    provisional months leave the seaborne/river cells empty: ``""``). Throughputs are in thousand
    TEU, changes in percent year on year. A row with more cells than the header keeps the surplus
    under ``_extra_columns`` (as the shared CSV reader does); a short row lacks the missing keys.
    BOM and CRLF are handled; fully blank lines are skipped.

    Raises:
        DuplicateHeaderError: the header names a column twice (names compared as published, the
            way they key the record): one of the two cells would overwrite the other. Raised
            before any record; the loader quarantines the whole file (``_file:duplicate_header``).
        UnicodeDecodeError: the file is not UTF-8 (``_file:encoding``).
    """
    rows = _csv_rows(path)
    header = next(rows, None)
    if header is None:
        return
    check_unique_header(header)
    for ordinal, row in enumerate(rows, start=1):
        record: dict[str, object] = dict(zip(header, row, strict=False))
        if len(row) > len(header):
            record["_extra_columns"] = row[len(header) :]
        yield ordinal, _dumps(record)


def install_port_samples(samples_dir: Path, landing_root: Path) -> list[Path]:
    """Copy the shipped public port samples into their drop folders; return the copies' paths.

    Each file of :data:`SAMPLE_FILES` found in ``samples_dir`` (``data/samples/port``) is copied
    byte for byte to ``landing_root/public/port/<entity>/<file name>``. Idempotent: a copy that
    already has the same bytes is left alone (its mtime does not change); a copy with other bytes
    is replaced atomically (written beside it under a hidden ``.tmp`` name the drop-folder reader
    ignores, then renamed). Returns every destination path, in :data:`SAMPLE_FILES` order.

    Raises:
        FileNotFoundError: a sample file is missing from ``samples_dir``.
    """
    installed: list[Path] = []
    for name, entity in SAMPLE_FILES.items():
        content = (samples_dir / name).read_bytes()
        target = landing_root / PUBLIC_TENANT / SYSTEM / entity / name
        if not (target.is_file() and target.read_bytes() == content):
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{name}.tmp")
            partial.write_bytes(content)
            os.replace(partial, target)
        installed.append(target)
    return installed


# -- pull resources: the feeds fetched over HTTP by the ingestion assets ----------------------

MARDEP_ENV_PREFIX = "TRACELOOM_MARDEP"
MARDEP_RESOURCE_KEY = "mardep_feeds"
PORT_STATS_ENV_PREFIX = "TRACELOOM_PORT_STATS"
PORT_STATS_RESOURCE_KEY = "port_statistics"
# Entity -> the resource field holding its feed path (relative to the base URL, or absolute).
MARDEP_PATH_FIELDS = {
    "vessel_expected_arrivals": "expected_arrivals_path",
    "vessels_arrived": "arrived_path",
    "vessels_departed": "departed_path",
    "vessels_in_port": "in_port_path",
}
PORT_STATS_PATH_FIELDS = {
    "cargo_throughput": "cargo_path",
    "container_throughput": "container_path",
}


def _public_only(prefix: str, tenant_id: str) -> None:
    if tenant_id != PUBLIC_TENANT:
        raise ValueError(
            f"{prefix} is a public feed and lands under tenant {PUBLIC_TENANT!r}, "
            f"not {tenant_id!r}: set {prefix}_TENANTS={PUBLIC_TENANT} or leave it unset"
        )


class _PublicDocumentResource(PullResource):
    """A public feed published as whole documents (one per entity), pulled as raw bytes.

    Each pull is one ``GET <base_url>/<path>`` (:meth:`SourceHttpClient.get_bytes`: retries,
    ``Retry-After``, breaker and dead letters as for JSON APIs) written unchanged — BOM, CRLF,
    encoding and all — as ``<path stem>_<content digest><suffix>``
    (:func:`~traceloom_pipelines.landing.pull.write_pull_document`; the suffix is the entity's
    first ``file_suffixes`` entry, ``.xml`` or ``.csv``). No cursor: every pull is a snapshot,
    an unchanged answer gets the same name and the landing ledger skips it. The entity's reader
    parses the file exactly as it parses a dropped copy.
    """

    tenants: str = PUBLIC_TENANT

    # Subclasses: entity -> name of the field holding its path; the env prefix; Accept header.
    _path_fields: dict[str, str] = {}
    _env_prefix: str = ""
    _accept: str = "*/*"

    def feed_path(self, entity: str) -> str:
        """The configured path (or absolute URL) of ``entity``'s feed.

        Raises:
            ValueError: the feed does not serve ``entity``.
        """
        field_name = self._path_fields.get(entity)
        if field_name is None:
            raise ValueError(f"{self.source} does not serve {entity}")
        return getattr(self, field_name)

    def pull(
        self,
        *,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        """Fetch ``entity``'s document and write it whole as one content-named drop file.

        Raises:
            ValueError: an entity this feed does not serve, or a tenant other than ``public``.
            SourceRequestError, CircuitOpenError: the request failed for good (nothing written).
        """
        path = self.feed_path(entity.entity)
        _public_only(self._env_prefix, tenant_id)
        client = self.client(tenant_id)
        body = client.get_bytes(path, accept=self._accept)
        stem = Path(path.split("?", 1)[0]).stem or entity.entity
        written = write_pull_document(
            landing_root, tenant_id, entity, stem, entity.file_suffixes[0], body
        )
        log(f"{self.source}/{entity.entity}: GET {path} -> {written.name} ({len(body)} bytes)")
        return PullBatch(
            files=[written], next_cursor=None, metadata={"file": written.name, "bytes": len(body)}
        )


class MarDepResource(_PublicDocumentResource):
    """Pulls the Hong Kong Marine Department vessel-movement XML feeds (000 §3.3) for tenant
    ``public``.

    ``base_url`` (``TRACELOOM_MARDEP_URL``) is the folder the feeds are published in (MarDep's
    open-data folder, e.g. ``https://www.mardep.gov.hk/e_files/en/opendata/``); each entity is
    one ``GET <base_url>/<feed file>``, written whole as ``<feed>_<content digest>.xml`` into
    ``landing/public/port/<entity>/`` (see :class:`_PublicDocumentResource`).

    Attributes (besides :class:`~traceloom_pipelines.landing.pull.PullResource`'s):
        tenants: defaults to ``public`` (any other tenant raises ``ValueError``).
        expected_arrivals_path / arrived_path / departed_path / in_port_path: the feed files as
            published (``RP04005i.XML`` expected arrivals, ``RP05005i.XML`` arrived in the last
            36 h, ``RP05505i.XML`` departed in the last 36 h, ``RP06005i.XML`` in port); an
            absolute URL is used as is. Environment: ``TRACELOOM_MARDEP_<FIELD>`` (e.g.
            ``TRACELOOM_MARDEP_IN_PORT_PATH``).
    """

    expected_arrivals_path: str = "RP04005i.XML"
    arrived_path: str = "RP05005i.XML"
    departed_path: str = "RP05505i.XML"
    in_port_path: str = "RP06005i.XML"

    _path_fields = MARDEP_PATH_FIELDS
    _env_prefix = MARDEP_ENV_PREFIX
    _accept = "application/xml, text/xml;q=0.9, */*;q=0.1"

    @property
    def source(self) -> str:
        return "mardep"


class PortStatisticsResource(_PublicDocumentResource):
    """Pulls the DATA.GOV.HK port statistics CSVs (000 §3.3) for tenant ``public``.

    ``base_url`` (``TRACELOOM_PORT_STATS_URL``) is where the two CSVs are published; each
    entity is one ``GET <base_url>/<csv>``, written whole (UTF-8 BOM and CRLF kept) as
    ``<csv stem>_<content digest>.csv`` into ``landing/public/port/<entity>/``.

    Attributes (besides :class:`~traceloom_pipelines.landing.pull.PullResource`'s):
        tenants: defaults to ``public`` (any other tenant raises ``ValueError``).
        cargo_path: port cargo statistics table 1 (wide, one column per year); default
            ``port_cargo_stats_table1_eng.csv``.
        container_path: container throughput by mode of transport ('000 TEU); default
            ``mardep_container_throughput_by_mode_EN.csv``. Either may be an absolute URL (the
            two CSVs need not share a folder). Environment: ``TRACELOOM_PORT_STATS_CARGO_PATH``,
            ``TRACELOOM_PORT_STATS_CONTAINER_PATH``.
    """

    cargo_path: str = "port_cargo_stats_table1_eng.csv"
    container_path: str = "mardep_container_throughput_by_mode_EN.csv"

    _path_fields = PORT_STATS_PATH_FIELDS
    _env_prefix = PORT_STATS_ENV_PREFIX
    _accept = "text/csv, */*;q=0.1"

    @property
    def source(self) -> str:
        return "port_stats"


def _path_overrides(prefix: str, fields: dict[str, str]) -> dict[str, str]:
    overrides = {}
    for field_name in fields.values():
        variable = f"{prefix}_{field_name.upper()}"
        if os.environ.get(variable):
            overrides[field_name] = os.environ[variable]
    return overrides


def mardep_from_env() -> MarDepResource:
    """The MarDep pull resource from ``TRACELOOM_MARDEP_*`` (disabled when
    ``TRACELOOM_MARDEP_URL`` is unset: the vessel assets then land drop files only)."""
    overrides = _path_overrides(MARDEP_ENV_PREFIX, MARDEP_PATH_FIELDS)
    return MarDepResource(**pull_env_config(MARDEP_ENV_PREFIX, **overrides))


def port_statistics_from_env() -> PortStatisticsResource:
    """The DATA.GOV.HK statistics pull resource from ``TRACELOOM_PORT_STATS_*`` (disabled when
    ``TRACELOOM_PORT_STATS_URL`` is unset)."""
    overrides = _path_overrides(PORT_STATS_ENV_PREFIX, PORT_STATS_PATH_FIELDS)
    return PortStatisticsResource(**pull_env_config(PORT_STATS_ENV_PREFIX, **overrides))
