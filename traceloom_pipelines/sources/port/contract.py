"""Port source contract: Hong Kong Marine Department vessel movements (expected arrivals,
arrived, departed, in port) and DATA.GOV.HK port statistics (cargo throughput, container
throughput by mode) — 000 §3.3 "Port & Maritime Data".

Drop folders: ``landing/public/port/<entity>/`` (public feeds land under the ``public`` tenant).
The vessel feeds are XML (``*.xml``), one record per ``<G_SQL1>``; the statistics are CSV
(readers in ``connector.py``). Every field lands as the text the source published, except the
statistics' numbers (``DOUBLE``/``BIGINT``). MarDep times are Hong Kong local time without an
offset in two spellings (``2025/08/24 06:00``, ``21-AUG-2025 18:47``): they must parse
(:func:`is_hk_local_time`), land as text, and dbt staging converts them to UTC.

Text lands as published: a vessel name published as ``'BAO QIAO 77 '`` keeps its trailing
space in ``raw`` (staging trims and upper-cases it for matching). ``_feed`` (the XML root
element) must name the feed of the folder, so a feed dropped into the wrong folder is
quarantined, not mixed in.

No staleness rule: ``vessels_in_port`` legitimately lists vessels that arrived years ago.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from traceloom_pipelines.landing.checks import INTEGER, NUMBER, TEXT, field
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.sources.port.connector import (
    FEED_FIELD,
    iter_cargo_throughput_records,
    iter_container_throughput_records,
    iter_mardep_vessel_records,
)

SEED_REF = "000 §3.3 (Port & Maritime Data)"

# How MarDep writes a local time (chrono/strftime codes; dbt staging uses the same list with
# DuckDB's strptime, and tests/sources/test_port.py keeps the two in step). %b is case-blind.
HK_LOCAL_TIME_FORMATS = (
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d-%b-%Y %H:%M",
    "%d-%b-%Y %H:%M:%S",
)

MONTHS = ("All", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CARGO_MEASURES = ("throughput_kt", "percentage_distribution", "average_annual_rate_of_change")


def parse_hk_local_time(expr: pl.Expr) -> pl.Expr:
    """Parse MarDep time text (:data:`HK_LOCAL_TIME_FORMATS`) into a naive datetime (µs) that is
    Hong Kong local wall-clock time — not UTC. Text in no known format (or an impossible date
    such as ``2025/13/45 99:99``) becomes null."""
    text = expr.str.strip_chars()
    return pl.coalesce(
        [text.str.strptime(pl.Datetime("us"), fmt, strict=False) for fmt in HK_LOCAL_TIME_FORMATS]
    )


def is_hk_local_time() -> pa.Check:
    """Check ``is_hk_local_time``: the text is a Hong Kong local time as MarDep writes it
    (:data:`HK_LOCAL_TIME_FORMATS`); null passes (``not_nullable`` covers required fields)."""

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        raw = pl.col(data.key)
        return data.lazyframe.select(raw.is_null() | parse_hk_local_time(raw).is_not_null())

    return pa.Check(check, name="is_hk_local_time")


def hk_local_time(path: str, *, required: bool = False, description: str = "") -> pa.Column:
    """A MarDep time field: lands as text (``VARCHAR``), must pass :func:`is_hk_local_time`."""
    column = field(path, TEXT, required=required, description=description)
    return column.set_checks([*column.checks, is_hk_local_time()])


def _vessel_entity(
    entity: str, feed: str, description: str, columns: dict[str, pa.Column]
) -> SourceEntity:
    """A MarDep vessel-movement feed: call sign and vessel name required, plus ``columns``."""
    return SourceEntity(
        system="port",
        entity=entity,
        seed_ref=f"{SEED_REF}, MarDep {feed}",
        description=description,
        reader=iter_mardep_vessel_records,
        file_suffixes=(".xml",),
        schema=pa.DataFrameSchema(
            {
                "CALL_SIGN": field("$.CALL_SIGN", required=True, description="Radio call sign."),
                "VESSEL_NAME": field(
                    "$.VESSEL_NAME",
                    required=True,
                    description="Vessel name as published (trailing spaces kept).",
                ),
                "SHIP_TYPE": field("$.SHIP_TYPE", description="MarDep ship type."),
                **columns,
                FEED_FIELD: field(
                    f"$.{FEED_FIELD}",
                    required=True,
                    accepted=(f"{feed}XML",),
                    description="Root element of the XML file: which feed the row came from.",
                ),
            },
            name=f"port.{entity}",
        ),
    )


vessel_expected_arrivals = _vessel_entity(
    "vessel_expected_arrivals",
    "RP04005I",
    "Vessels expected to arrive in Hong Kong waters, with ETA (re-published hourly).",
    {
        "LAST_PORT": field("$.LAST_PORT", description="Last port of call."),
        "AGENT_NAME": field("$.AGENT_NAME", description="Local shipping agent."),
        "ETA": hk_local_time("$.ETA", required=True, description="ETA, Hong Kong local time."),
        "PASI": field("$.PASI", description="Pre-arrival security information status (RCVD)."),
        "STATUS": field("$.STATUS", description="Status as published (e.g. Approved)."),
    },
)

vessels_arrived = _vessel_entity(
    "vessels_arrived",
    "RP05005I",
    "Vessels arrived in Hong Kong waters in the last 36 hours.",
    {
        "AGENT_NAME": field("$.AGENT_NAME", description="Local shipping agent."),
        "CURRENT_LOCATION": field("$.CURRENT_LOCATION", description="Berth or anchorage."),
        "ARRIVAL_TIME": hk_local_time(
            "$.ARRIVAL_TIME", required=True, description="Arrival time, Hong Kong local time."
        ),
        "REMARK": field("$.REMARK", description="'Departed' once the vessel has left again."),
    },
)

vessels_departed = _vessel_entity(
    "vessels_departed",
    "RP05505I",
    "Vessels departed from Hong Kong waters in the last 36 hours.",
    {
        "AGENT_NAME": field("$.AGENT_NAME", description="Local shipping agent."),
        "ATD_TIME": hk_local_time(
            "$.ATD_TIME", required=True, description="Actual departure time, Hong Kong local."
        ),
        "LAST_BERTH": field("$.LAST_BERTH", description="Last berth or anchorage."),
    },
)

vessels_in_port = _vessel_entity(
    "vessels_in_port",
    "RP06005I",
    "Vessels in Hong Kong waters now (a snapshot; some have been there for years).",
    {
        "FLAG": field("$.FLAG", description="Flag state."),
        "AGENT_NAME": field("$.AGENT_NAME", description="Local shipping agent."),
        "CURRENT_LOCATION": field("$.CURRENT_LOCATION", description="Berth or anchorage."),
        "ARRIVAL_TIME": hk_local_time(
            "$.ARRIVAL_TIME", required=True, description="Arrival time, Hong Kong local time."
        ),
        "IMO_NO": field(
            "$.IMO_NO", description="IMO number; 'TEMP…' for a MarDep temporary id; may be absent."
        ),
    },
)

cargo_throughput = SourceEntity(
    system="port",
    entity="cargo_throughput",
    seed_ref=f"{SEED_REF}, DATA.GOV.HK port cargo statistics table 1",
    description="Port cargo throughput by shipment type and year (wide CSV landed one cell a row).",
    reader=iter_cargo_throughput_records,
    file_suffixes=(".csv",),
    schema=pa.DataFrameSchema(
        {
            "shipment_type": field(
                "$.shipment_type",
                required=True,
                description="Direct shipment cargo / Transhipment cargo / Overall.",
            ),
            "year": field(
                "$.year", required=True, description="'2014', or '2014-2023' for the rate."
            ).set_checks(
                [
                    pa.Check.str_matches(
                        r"^\d{4}(-\d{4})?$", name="is_year_or_range", error="is_year_or_range"
                    )
                ]
            ),
            "measure": field(
                "$.measure",
                required=True,
                accepted=CARGO_MEASURES,
                description="throughput_kt ('000 tonnes), percentage_distribution (%), "
                "average_annual_rate_of_change (% per year over the year range).",
            ),
            "value": field("$.value", NUMBER, description="The cell; null if left empty."),
            "source_column": field(
                "$.source_column", description="Header of the wide column the cell came from."
            ),
        },
        name="port.cargo_throughput",
    ),
)

container_throughput = SourceEntity(
    system="port",
    entity="container_throughput",
    seed_ref=f"{SEED_REF}, DATA.GOV.HK container throughput by mode of transport",
    description="Container throughput by mode ('000 TEU), per year (Month 'All') and per month.",
    reader=iter_container_throughput_records,
    file_suffixes=(".csv",),
    schema=pa.DataFrameSchema(
        {
            "Year": field("$.Year", INTEGER, required=True, non_negative_value=True),
            "Month": field(
                "$.Month", required=True, accepted=MONTHS, description="'All' or Jan…Dec."
            ),
            "Seaborne ( '000 TEUs)": field(
                '$."Seaborne ( \'000 TEUs)"', NUMBER, non_negative_value=True
            ),
            "River ( '000 TEUs)": field('$."River ( \'000 TEUs)"', NUMBER, non_negative_value=True),
            "Total ( '000 TEUs)": field('$."Total ( \'000 TEUs)"', NUMBER, non_negative_value=True),
            "Seaborne (Year-on-year change %)": field(
                '$."Seaborne (Year-on-year change %)"', NUMBER
            ),
            "River (Year-on-year change %)": field('$."River (Year-on-year change %)"', NUMBER),
            "Total (Year-on-year change %)": field('$."Total (Year-on-year change %)"', NUMBER),
        },
        name="port.container_throughput",
    ),
)

ENTITIES = (
    vessel_expected_arrivals,
    vessels_arrived,
    vessels_departed,
    vessels_in_port,
    cargo_throughput,
    container_throughput,
)
