"""Weather source contract: Hong Kong Observatory open-data warnings and 9-day forecast, and
Open-Meteo hourly forecasts for route ports — 000 §3.2 "Public Weather Data".

Drop folders: ``landing/public/weather/<entity>/`` (public feeds land under the ``public``
tenant), one JSON file per pull (``connector.pull_hko`` / ``connector.pull_open_meteo`` write
them; readers in ``connector.py``). HKO times carry ``+08:00`` and land as UTC; Open-Meteo's
local ``time`` is landed beside ``forecast_time``, the same instant with its offset.

A warning summary is a snapshot of what is in force: the same warning is re-published on every
pull, so an unchanged warning is an exact duplicate and is skipped at landing; a change (update,
extension, cancellation) is a new record. dbt turns the records into intervals
(``int_weather_warning_intervals``).
"""

from __future__ import annotations

import pandera.polars as pa

from traceloom_pipelines.landing.checks import INTEGER, JSON, NUMBER, TEXT, TIMESTAMP, field
from traceloom_pipelines.landing.entity import RecordReader, SourceEntity
from traceloom_pipelines.sources.weather.connector import (
    LOCATION_KEY,
    OPEN_METEO_HOURLY,
    iter_hko_forecast_records,
    iter_hko_warning_details_records,
    iter_hko_warning_summary_records,
    iter_open_meteo_records,
)

SEED_REF = "000 §3.2 (Public Weather Data)"

# HKO warning statement codes (the warnsum keys / warningInfo warningStatementCode).
HKO_WARNING_STATEMENTS = (
    "WFIRE",  # fire danger
    "WFROST",  # frost
    "WHOT",  # very hot weather
    "WCOLD",  # cold weather
    "WMSGNL",  # strong monsoon signal
    "WRAIN",  # rainstorm (amber / red / black)
    "WFNTSA",  # special announcement on flooding in the northern New Territories
    "WL",  # landslip
    "WTCSGNL",  # tropical cyclone signals (TC1, TC3, TC8NE … TC10)
    "WTMW",  # tsunami
    "WTS",  # thunderstorm
    "WTCPRE8",  # pre-no. 8 special announcement
)
HKO_ACTION_CODES = ("ISSUE", "REISSUE", "EXTEND", "UPDATE", "CANCEL")
# Probability of significant rain in the 9-day forecast.
HKO_PSR = ("High", "Medium High", "Medium", "Medium Low", "Low")


def _hko_entity(
    entity: str,
    description: str,
    reader: RecordReader,
    columns: dict[str, pa.Column],
    seed_suffix: str,
) -> SourceEntity:
    """An HKO open-data feed landed from ``*.json`` pulls with its own reader."""
    return SourceEntity(
        system="weather",
        entity=entity,
        seed_ref=f"{SEED_REF}, HKO open data {seed_suffix}",
        description=description,
        reader=reader,
        file_suffixes=(".json",),
        schema=pa.DataFrameSchema(columns, name=f"weather.{entity}"),
    )


hko_warning_summary = _hko_entity(
    "hko_warning_summary",
    "HKO warnings in force (dataType=warnsum), one record per warning per pull; a cancelled "
    "warning stays in the feed with actionCode CANCEL.",
    iter_hko_warning_summary_records,
    {
        "warningStatementCode": field(
            "$.warningStatementCode",
            required=True,
            accepted=HKO_WARNING_STATEMENTS,
            description="Warning statement (the summary's key): WTCSGNL, WRAIN, WMSGNL …",
        ),
        "name": field("$.name", description="Warning name, e.g. 'Rainstorm Warning Signal'."),
        "code": field(
            "$.code",
            required=True,
            description="Warning level: TC1, TC3, TC8NE … for WTCSGNL; WRAINA/R/B for WRAIN.",
        ),
        "type": field("$.type", description="Level in words where HKO gives one (Amber …)."),
        "actionCode": field(
            "$.actionCode", required=True, accepted=HKO_ACTION_CODES, description="What changed."
        ),
        "issueTime": field("$.issueTime", TIMESTAMP, required=True, description="Issued (UTC)."),
        "updateTime": field(
            "$.updateTime", TIMESTAMP, required=True, description="This state since (UTC)."
        ),
        "expireTime": field("$.expireTime", TIMESTAMP, description="Expires unless extended."),
    },
    "dataType=warnsum",
)

hko_warning_details = _hko_entity(
    "hko_warning_details",
    "HKO warning texts (dataType=warningInfo), one record per warning statement per pull.",
    iter_hko_warning_details_records,
    {
        "warningStatementCode": field(
            "$.warningStatementCode",
            required=True,
            accepted=HKO_WARNING_STATEMENTS,
            description="Warning statement: WTCSGNL, WRAIN …",
        ),
        "subtype": field("$.subtype", description="Level, e.g. TC8NE, WRAINA (if any)."),
        "contents": field("$.contents", JSON, description="Paragraphs of the warning text."),
        "updateTime": field(
            "$.updateTime", TIMESTAMP, required=True, description="Text valid since (UTC)."
        ),
    },
    "dataType=warningInfo",
)

hko_forecasts = _hko_entity(
    "hko_forecasts",
    "HKO 9-day forecast (dataType=fnd), one record per forecast day per pull.",
    iter_hko_forecast_records,
    {
        "updateTime": field(
            "$.updateTime", TIMESTAMP, required=True, description="Forecast issued (UTC)."
        ),
        "forecastDate": field(
            "$.forecastDate", required=True, description="Forecast day, YYYYMMDD (HK)."
        ).set_checks([pa.Check.str_matches(r"^\d{8}$", name="is_yyyymmdd", error="is_yyyymmdd")]),
        "week": field("$.week", description="Day of the week."),
        "forecastWind": field("$.forecastWind", description="Wind forecast text."),
        "forecastWeather": field("$.forecastWeather", description="Weather forecast text."),
        "forecastMaxtemp": field("$.forecastMaxtemp.value", NUMBER, description="Max °C."),
        "forecastMintemp": field("$.forecastMintemp.value", NUMBER, description="Min °C."),
        "forecastMaxrh": field("$.forecastMaxrh.value", NUMBER, description="Max humidity %."),
        "forecastMinrh": field("$.forecastMinrh.value", NUMBER, description="Min humidity %."),
        "ForecastIcon": field("$.ForecastIcon", INTEGER, description="HKO weather icon code."),
        "PSR": field(
            "$.PSR", accepted=HKO_PSR, description="Probability of significant rain (words)."
        ),
        "generalSituation": field("$.generalSituation", description="Synoptic situation text."),
    },
    "dataType=fnd",
)

_open_meteo_values = {
    variable: field(
        f"$.{variable}",
        NUMBER,
        non_negative_value=variable != "temperature_2m",
        description=f"Hourly {variable} (unit in {variable}_unit).",
    )
    for variable in OPEN_METEO_HOURLY
}
_open_meteo_units = {
    f"{variable}_unit": field(f"$.{variable}_unit", TEXT, description=f"Unit of {variable}.")
    for variable in OPEN_METEO_HOURLY
}

open_meteo_forecasts = SourceEntity(
    system="weather",
    entity="open_meteo_forecasts",
    seed_ref=f"{SEED_REF}, Open-Meteo /v1/forecast hourly",
    description="Open-Meteo hourly forecasts for route ports, one record per location and hour "
    "per pull; location_id is the UN/LOCODE the puller asked for.",
    reader=iter_open_meteo_records,
    file_suffixes=(".json",),
    schema=pa.DataFrameSchema(
        {
            LOCATION_KEY: field(
                f"$.{LOCATION_KEY}", required=True, description="UN/LOCODE asked for (HKHKG)."
            ),
            "latitude": field("$.latitude", NUMBER, required=True, description="Grid latitude."),
            "longitude": field("$.longitude", NUMBER, required=True, description="Grid longitude."),
            "timezone": field("$.timezone", description="Zone of `time` (IANA or GMT)."),
            "utc_offset_seconds": field("$.utc_offset_seconds", INTEGER, description="Offset."),
            "time": field("$.time", description="Forecast hour as published (local, no offset)."),
            "forecast_time": field(
                "$.forecast_time", TIMESTAMP, required=True, description="Forecast hour (UTC)."
            ),
            **_open_meteo_values,
            **_open_meteo_units,
        },
        name="weather.open_meteo_forecasts",
    ),
)

ENTITIES = (hko_warning_summary, hko_warning_details, hko_forecasts, open_meteo_forecasts)
