"""AIS source contract: NMEA AIVDM sentences decoded with pyais — 000 §3.3 "Port & Maritime
Data" (vessel positions / ETA; match a shipper's ``vesselName`` to AIS records).

Drop folder ``landing/public/ais/messages/`` (public feed, tenant ``public``), files ``*.nmea`` or
``*.txt``, one sentence a line (reader in ``connector.py``). One entity for every message type,
told apart by ``msg_type``: position reports (1/2/3 class A, 18/19 class B) fill the position
columns, static and voyage data (5; 24 part A/B) fill name, call sign, IMO, destination, ETA and
draught. One table keeps a vessel's story in one place and needs one reader pass; staging splits
it into positions and static data.

A sentence that cannot be read lands in ``audit.quarantine`` with its raw text: the reader sets
``error`` and the check named after it fails (``error:valid_checksum``,
``error:is_ais_sentence``, ``error:fragments_complete``, ``error:decodable``).
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from traceloom_pipelines.landing.checks import INTEGER, NUMBER, TEXT, TIMESTAMP, field
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.sources.ais.connector import iter_ais_records

SEED_REF = "000 §3.3 (Port & Maritime Data: vessel positions, AIS matching)"

# Reader error code (connector.ERROR_CODES) -> the check that fails on it (its name is the
# quarantine reason).
ERROR_CHECKS = {
    "checksum": "valid_checksum",
    "not_ais": "is_ais_sentence",
    "missing_fragment": "fragments_complete",
    "undecodable": "decodable",
}


def _error_is_not(code: str, name: str) -> pa.Check:
    """Fails where the reader's ``error`` is ``code``."""

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        value = pl.col(data.key)
        return data.lazyframe.select(value.is_null() | (value != code))

    return pa.Check(check, name=name)


def _error_field() -> pa.Column:
    column = field("$.error", TEXT, description="Why the reader could not decode the message.")
    return column.set_checks([_error_is_not(code, name) for code, name in ERROR_CHECKS.items()])


messages = SourceEntity(
    system="ais",
    entity="messages",
    seed_ref=SEED_REF,
    description="AIS messages decoded from NMEA sentences (pyais): position reports and static "
    "and voyage data in one table, told apart by msg_type; two-fragment messages reassembled.",
    reader=iter_ais_records,
    file_suffixes=(".nmea", ".txt"),
    schema=pa.DataFrameSchema(
        {
            "error": _error_field(),
            "msg_type": field("$.msg_type", INTEGER, required=True, description="AIS type."),
            "mmsi": field(
                "$.mmsi", INTEGER, required=True, non_negative_value=True, description="MMSI."
            ),
            "latitude": field("$.latitude", NUMBER, description="Degrees; 91 = not available."),
            "longitude": field("$.longitude", NUMBER, description="Degrees; 181 = n/a."),
            "sog_knots": field("$.sog_knots", NUMBER, non_negative_value=True, description="SOG."),
            "cog_degrees": field("$.cog_degrees", NUMBER, description="Course over ground."),
            "heading_degrees": field("$.heading_degrees", INTEGER, description="511 = n/a."),
            "nav_status": field("$.nav_status", INTEGER, description="Navigational status."),
            "utc_second": field("$.utc_second", INTEGER, description="Second of the fix."),
            "imo_number": field("$.imo_number", INTEGER, description="IMO number (type 5)."),
            "call_sign": field("$.call_sign", description="Radio call sign (types 5, 24B)."),
            "ship_name": field("$.ship_name", description="Ship name (types 5, 19, 24A)."),
            "ship_type": field("$.ship_type", INTEGER, description="AIS ship type code."),
            "destination": field("$.destination", description="Destination as typed by crew."),
            "eta_month": field("$.eta_month", INTEGER, description="ETA month, 0 = n/a."),
            "eta_day": field("$.eta_day", INTEGER, description="ETA day, 0 = n/a."),
            "eta_hour": field("$.eta_hour", INTEGER, description="ETA hour UTC, 24 = n/a."),
            "eta_minute": field("$.eta_minute", INTEGER, description="ETA minute, 60 = n/a."),
            "draught_m": field("$.draught_m", NUMBER, non_negative_value=True, description="m."),
            "part_number": field("$.part_number", INTEGER, description="Type 24: 0 = A, 1 = B."),
            "received_at": field(
                "$.received_at", TIMESTAMP, description="Receiver time (tag block c:), UTC."
            ),
            "source_station": field("$.source_station", description="Tag block s: station."),
            "fragment_count": field("$.fragment_count", INTEGER, description="Sentences."),
            "sentences": field("$.sentences", required=True, description="Raw NMEA text."),
            "error_detail": field("$.error_detail", description="Reader's error detail."),
        },
        name="ais.messages",
    ),
)

ENTITIES = (messages,)
