"""How public weather data arrives: Hong Kong Observatory open-data JSON (warning summary,
warning details, 9-day forecast) and Open-Meteo hourly forecasts, turned into records for the
landing machinery — plus the HTTP pull that writes those drop files (000 §3.2).

Every reader here is a :data:`~traceloom_pipelines.landing.entity.RecordReader`: one drop file
in, ``(1-based record ordinal, record JSON text)`` pairs out, nothing dropped. A file that is not
JSON, or a payload of an unexpected shape, is yielded as one record holding the raw text (not
JSON, or JSON without the required fields), so validation quarantines it with its reason.
An empty payload (``{}``: HKO publishes that when no warning is in force) yields no record.

Values stay as published (text, numbers as JSON numbers); the contract (``contract.py``) says what
they must parse as and dbt staging types them.

Scheduled pulls: :class:`HkoResource` (``TRACELOOM_HKO_*``) and :class:`OpenMeteoResource`
(``TRACELOOM_OPEN_METEO_*``) are the pull resources of the weather ingestion assets
(``assets.py``); each pull is a snapshot written whole under a content-digest name, so an
unchanged answer lands nothing new. :func:`pull_hko` / :func:`pull_open_meteo` are the one-off
forms (time-stamped names) over the same fetch functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from traceloom_pipelines.integration.breaker import CircuitOpenError
from traceloom_pipelines.integration.http import (
    BREAKER_OPEN,
    SourceHttpClient,
    SourceProtocolError,
    SourceRequestError,
)
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.pull import (
    PullBatch,
    PullResource,
    content_digest,
    pull_env_config,
)
from traceloom_pipelines.reference.ports import port_coordinates

SYSTEM = "weather"
PUBLIC_TENANT = "public"

# The HKO open-data API: one endpoint, the feed chosen by dataType (000 §3.2).
HKO_API_URL = "https://data.weather.gov.hk/weatherAPI/opendata/weather.php"
HKO_DATA_TYPES = {
    "warnsum": "hko_warning_summary",
    "warningInfo": "hko_warning_details",
    "fnd": "hko_forecasts",
}
OPEN_METEO_URL = "https://api.open-meteo.com/v1/forecast"
# Hourly variables requested from Open-Meteo and landed (units: °C, mm, km/h by default).
OPEN_METEO_HOURLY = ("temperature_2m", "precipitation", "wind_speed_10m", "wind_gusts_10m")
# Key the puller adds to each Open-Meteo response: the location (UN/LOCODE) it was asked for.
LOCATION_KEY = "location_id"


def _dumps(record: object) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _load(path: Path) -> tuple[object | None, str]:
    """The file's parsed JSON (``None`` if it is not JSON) and its text.

    Raises:
        UnicodeDecodeError: the file is not UTF-8 (BOM allowed); the loader quarantines it
            whole (``_file:encoding``).
    """
    text = path.read_text(encoding="utf-8-sig", errors="strict")
    try:
        return json.loads(text), text
    except json.JSONDecodeError:
        return None, text


def iter_hko_warning_summary_records(path: Path) -> Iterator[tuple[int, str]]:
    """Records of one HKO warning summary (``dataType=warnsum``) file: one per warning.

    The payload is an object keyed by warning statement code (``WTCSGNL``, ``WRAIN``,
    ``WMSGNL``, ``WTS`` …); each value holds ``name``, ``code`` (the level: ``TC8NE``,
    ``WRAINA`` …), ``type`` (e.g. ``Amber``, optional), ``actionCode`` (``ISSUE``, ``REISSUE``,
    ``EXTEND``, ``UPDATE``, ``CANCEL``), ``issueTime``, ``updateTime`` and, for some warnings,
    ``expireTime`` (ISO-8601 with ``+08:00``). Each record is that value plus
    ``warningStatementCode`` (the key), in file order. A cancelled warning stays in the feed
    with ``actionCode: CANCEL``; ``{}`` (nothing in force) yields nothing.

    Nothing is dropped: a file that is not JSON, or whose top level is not an object, is one
    record of its raw text; a value that is not an object becomes
    ``{"warningStatementCode": key, "_value": value}`` (both are quarantined).
    """
    payload, text = _load(path)
    if not isinstance(payload, dict):
        yield 1, text
        return
    for ordinal, (key, value) in enumerate(payload.items(), start=1):
        if isinstance(value, dict):
            yield ordinal, _dumps({"warningStatementCode": key, **value})
        else:
            yield ordinal, _dumps({"warningStatementCode": key, "_value": value})


def iter_hko_warning_details_records(path: Path) -> Iterator[tuple[int, str]]:
    """Records of one HKO warning information (``dataType=warningInfo``) file: one per detail.

    The payload is ``{"details": [{"contents": [...], "warningStatementCode", "subtype",
    "updateTime"}, …]}``; each element is a record as published (``contents`` stays a list of
    paragraphs, landed as JSON text). ``{}`` or an empty ``details`` yields nothing. A file that
    is not JSON or has no ``details`` list is one record of its raw text (quarantined).
    """
    payload, text = _load(path)
    if payload == {}:
        return
    if not isinstance(payload, dict) or not isinstance(payload.get("details"), list):
        yield 1, text
        return
    for ordinal, detail in enumerate(payload["details"], start=1):
        yield ordinal, _dumps(detail if isinstance(detail, dict) else {"_value": detail})


def iter_hko_forecast_records(path: Path) -> Iterator[tuple[int, str]]:
    """Records of one HKO 9-day forecast (``dataType=fnd``) file: one per forecast day.

    Each ``weatherForecast[]`` element (``forecastDate`` ``YYYYMMDD``, ``week``,
    ``forecastWind``, ``forecastWeather``, ``forecastMaxtemp``/``forecastMintemp``
    ``{"value", "unit": "C"}``, ``forecastMaxrh``/``forecastMinrh`` (percent), ``ForecastIcon``,
    ``PSR`` — probability of significant rain) is a record, with the payload's ``updateTime``
    and ``generalSituation`` copied in. Why ``fnd`` and not ``rhrread``: delay risk needs
    days ahead along a shipment's window, and current readings say nothing about them. A file
    that is not JSON or has no ``weatherForecast`` list is one record of its raw text.
    """
    payload, text = _load(path)
    if not isinstance(payload, dict) or not isinstance(payload.get("weatherForecast"), list):
        yield 1, text
        return
    shared = {k: payload.get(k) for k in ("updateTime", "generalSituation")}
    for ordinal, day in enumerate(payload["weatherForecast"], start=1):
        yield ordinal, _dumps({**shared, **(day if isinstance(day, dict) else {"_value": day})})


def _offset_iso(local: str, utc_offset_seconds: object) -> str | None:
    """Open-Meteo local time ``2026-07-31T14:00`` plus its zone's offset, as ISO-8601 with
    offset (``2026-07-31T14:00:00+08:00``); ``None`` when either part is unusable."""
    if not isinstance(utc_offset_seconds, int) or not isinstance(local, str):
        return None
    try:
        moment = datetime.fromisoformat(local)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        return moment.isoformat()
    return moment.replace(tzinfo=timezone(timedelta(seconds=utc_offset_seconds))).isoformat()


def _open_meteo_rows(response: dict) -> Iterator[dict]:
    hourly = response.get("hourly")
    units = response.get("hourly_units") or {}
    if not isinstance(hourly, dict) or not isinstance(hourly.get("time"), list):
        yield {"_value": response}
        return
    times = hourly["time"]
    offset = response.get("utc_offset_seconds")
    for index, local in enumerate(times):
        row: dict[str, object] = {
            LOCATION_KEY: response.get(LOCATION_KEY),
            "latitude": response.get("latitude"),
            "longitude": response.get("longitude"),
            "timezone": response.get("timezone"),
            "utc_offset_seconds": offset,
            "time": local,
            "forecast_time": _offset_iso(local, offset),
        }
        for variable in OPEN_METEO_HOURLY:
            values = hourly.get(variable)
            row[variable] = (
                values[index] if isinstance(values, list) and index < len(values) else None
            )
            row[f"{variable}_unit"] = units.get(variable)
        yield row


def iter_open_meteo_records(path: Path) -> Iterator[tuple[int, str]]:
    """Records of one Open-Meteo ``/v1/forecast`` response file: one per location and hour.

    The file holds one response object or a list of them (Open-Meteo answers a multi-location
    request with a list). Each response carries ``latitude``, ``longitude`` (the grid point
    used), ``timezone``, ``utc_offset_seconds``, ``hourly_units`` and ``hourly`` with parallel
    arrays ``time[]`` (local to ``timezone``, no offset) and one per variable
    (:data:`OPEN_METEO_HOURLY`), plus ``location_id`` — the UN/LOCODE the puller asked for
    (:func:`pull_open_meteo` adds it; Open-Meteo snaps coordinates to its grid, so the
    returned point alone cannot name the port). Each record: ``location_id``, ``latitude``,
    ``longitude``, ``timezone``, ``utc_offset_seconds``, ``time`` (as published),
    ``forecast_time`` (the same instant with its offset, ISO-8601; ``None`` if unparseable),
    each variable's value and ``<variable>_unit``. Ordinals run over all records of the file.

    Nothing is dropped: a file that is not JSON is one raw-text record; a response without an
    ``hourly.time`` array is one record ``{"_value": response}`` (quarantined: no location/time).
    """
    payload, text = _load(path)
    if payload is None:
        yield 1, text
        return
    responses = payload if isinstance(payload, list) else [payload]
    ordinal = 0
    for response in responses:
        rows = _open_meteo_rows(response) if isinstance(response, dict) else [{"_value": response}]
        for row in rows:
            ordinal += 1
            yield ordinal, _dumps(row)


# -- HTTP pull: write what the APIs answer as drop files ---------------------------------------


@dataclass(frozen=True)
class ForecastLocation:
    """A place to ask Open-Meteo about: a port's UN/LOCODE and its coordinates (degrees)."""

    locode: str
    latitude: float
    longitude: float


class WeatherApiError(SourceProtocolError):
    """A weather API answered with something that is not a usable JSON payload.

    A :class:`~traceloom_pipelines.integration.http.SourceProtocolError` (failure class
    ``protocol``): raised by a pull resource, the ingestion asset records the pull as failed,
    not the step. The one-off :func:`pull_hko` / :func:`pull_open_meteo` also raise it for a
    request that failed for good; it then wraps that error (``__cause__``) and carries its
    failure class (``client_error``, ``server_error``, ``breaker_open`` …) as ``error_class``.
    """


def _request_failed(error: SourceRequestError | CircuitOpenError) -> WeatherApiError:
    """``error`` (a request that failed for good) as the :class:`WeatherApiError` of the
    one-off pulls, keeping its failure class."""
    return WeatherApiError(
        str(error), error_class=getattr(error, "error_class", None) or BREAKER_OPEN
    )


def _client(client: SourceHttpClient | None, base_url: str, timeout: float) -> SourceHttpClient:
    return client or SourceHttpClient(SYSTEM, base_url, timeout_s=timeout, backoff_max_s=8.0)


def write_weather_drop(
    landing_root: Path, entity: str, name: str, payload: object, tenant_id: str = PUBLIC_TENANT
) -> Path:
    """Write ``payload`` as one whole JSON document to ``landing/<tenant>/weather/<entity>/<name>``.

    The weather readers need the answer as one document (not JSON lines), so this writes
    ``.<name>.tmp`` (a dot file the drop listing ignores) and renames it into place (atomic).
    """
    target = landing_root / tenant_id / SYSTEM / entity / name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{name}.tmp")
    partial.write_text(_dumps(payload), encoding="utf-8")
    os.replace(partial, target)
    return target


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def fetch_hko(client: SourceHttpClient, url: str, data_type: str, lang: str = "en") -> object:
    """One HKO open-data answer: ``GET url?dataType=<data_type>&lang=<lang>``, parsed JSON.

    Raises:
        ValueError: ``data_type`` is not one of :data:`HKO_DATA_TYPES`.
        SourceRequestError / CircuitOpenError: the request failed for good (the client's
            retries, ``Retry-After`` and breaker apply: 003 §7.1).
    """
    if data_type not in HKO_DATA_TYPES:
        raise ValueError(f"unknown HKO dataType {data_type!r}; expected one of {HKO_DATA_TYPES}")
    return client.get_json(url, {"dataType": data_type, "lang": lang})


def fetch_open_meteo(
    client: SourceHttpClient,
    url: str,
    locations: Sequence[ForecastLocation],
    forecast_days: int = 7,
) -> list[dict]:
    """Open-Meteo hourly forecasts for ``locations``: one ``GET url`` per location.

    Query: ``latitude``, ``longitude`` (degrees), ``hourly`` = :data:`OPEN_METEO_HOURLY`,
    ``timezone=UTC``, ``forecast_days``. Each response object gets ``location_id`` = the
    location's UN/LOCODE (first key). Returns the responses in ``locations`` order.

    Raises:
        WeatherApiError: an answer that is not a JSON object.
        SourceRequestError / CircuitOpenError: a request failed for good.
    """
    responses = []
    for location in locations:
        payload = client.get_json(
            url,
            {
                "latitude": location.latitude,
                "longitude": location.longitude,
                "hourly": ",".join(OPEN_METEO_HOURLY),
                "timezone": "UTC",
                "forecast_days": forecast_days,
            },
        )
        if not isinstance(payload, dict):
            raise WeatherApiError(f"Open-Meteo answered {type(payload).__name__}, not an object")
        responses.append({LOCATION_KEY: location.locode, **payload})
    return responses


def pull_hko(
    landing_root: Path,
    *,
    base_url: str = HKO_API_URL,
    lang: str = "en",
    client: SourceHttpClient | None = None,
    now: datetime | None = None,
    timeout: float = 30.0,
) -> list[Path]:
    """Fetch the three HKO feeds once and write each answer as a drop file.

    Files: ``landing_root/public/weather/<entity>/hko_<dataType>_<UTC yyyymmddThhmmssZ>.json``
    for ``warnsum``, ``warningInfo`` and ``fnd`` (:data:`HKO_DATA_TYPES`). Transient failures
    (connection, timeout, 429, 5xx) are retried by the shared
    :class:`~traceloom_pipelines.integration.http.SourceHttpClient` (``client``; default one for
    ``base_url`` with a ``timeout`` in seconds). The scheduled pull is :class:`HkoResource`
    (content-named files); this is the one-off form.

    Raises:
        WeatherApiError: a 4xx answer or a body that is not JSON (nothing is written for it).
    """
    client = _client(client, base_url, timeout)
    written = []
    for data_type, entity in HKO_DATA_TYPES.items():
        try:
            payload = fetch_hko(client, base_url, data_type, lang)
        except (SourceRequestError, CircuitOpenError) as error:
            raise _request_failed(error) from error
        written.append(
            write_weather_drop(landing_root, entity, f"hko_{data_type}_{_stamp(now)}.json", payload)
        )
    return written


def pull_open_meteo(
    landing_root: Path,
    locations: Sequence[ForecastLocation],
    *,
    base_url: str = OPEN_METEO_URL,
    forecast_days: int = 7,
    client: SourceHttpClient | None = None,
    now: datetime | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch Open-Meteo hourly forecasts for ``locations`` and write them as one drop file.

    The responses of :func:`fetch_open_meteo` are written as one JSON list to
    ``landing_root/public/weather/open_meteo_forecasts/open_meteo_<UTC stamp>.json``.

    Raises:
        WeatherApiError: a 4xx answer or a body that is not a JSON object.
    """
    client = _client(client, base_url, timeout)
    try:
        responses = fetch_open_meteo(client, base_url, locations, forecast_days)
    except (SourceRequestError, CircuitOpenError) as error:
        raise _request_failed(error) from error
    return write_weather_drop(
        landing_root, "open_meteo_forecasts", f"open_meteo_{_stamp(now)}.json", responses
    )


# -- pull resources: the scheduled pulls of the ingestion assets ------------------------------

HKO_ENV_PREFIX = "TRACELOOM_HKO"
HKO_RESOURCE_KEY = "hko_api"
OPEN_METEO_ENV_PREFIX = "TRACELOOM_OPEN_METEO"
OPEN_METEO_RESOURCE_KEY = "open_meteo_api"
# Route ports forecast when TRACELOOM_OPEN_METEO_PORTS is unset: the hub ports of the tenants'
# lanes (Hong Kong, Yantian, Singapore, Los Angeles, Rotterdam, Hamburg).
DEFAULT_ROUTE_PORTS = ("HKHKG", "CNYTN", "SGSIN", "USLAX", "NLRTM", "DEHAM")
_HKO_ENTITY_DATA_TYPE = {entity: data_type for data_type, entity in HKO_DATA_TYPES.items()}


def snapshot_file_name(prefix: str, payload: object) -> str:
    """``<prefix>_<16 hex of sha256 of the payload's JSON>.json``: the same answer gets the same
    name (and bytes), so the landing ledger skips an unchanged snapshot."""
    return f"{prefix}_{content_digest([_dumps(payload)])}.json"


def _public_only(source: str, tenant_id: str) -> None:
    if tenant_id != PUBLIC_TENANT:
        raise ValueError(
            f"{source} is a public feed and lands under tenant {PUBLIC_TENANT!r}, "
            f"not {tenant_id!r}: set {source.upper()}_TENANTS={PUBLIC_TENANT} or leave it unset"
        )


class HkoResource(PullResource):
    """Pulls the Hong Kong Observatory open-data feeds (000 §3.2) for tenant ``public``.

    ``base_url`` is the full endpoint (``TRACELOOM_HKO_URL``, e.g. :data:`HKO_API_URL`); each
    entity is one request ``GET <base_url>?dataType=<warnsum|warningInfo|fnd>&lang=<lang>``.
    There is no cursor: every pull is a snapshot of what is in force, written whole (a JSON
    document, :func:`write_weather_drop`) as ``hko_<dataType>_<content digest>.json``, so an
    unchanged answer lands nothing new and a changed one lands as a new file.

    Attributes (besides :class:`~traceloom_pipelines.landing.pull.PullResource`'s):
        tenants: defaults to ``public`` (any other tenant raises ``ValueError``).
        lang: HKO language, ``en`` (``tc``/``sc`` also published).
    """

    tenants: str = PUBLIC_TENANT
    lang: str = "en"

    @property
    def source(self) -> str:
        return "hko"

    def pull(
        self,
        *,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        """Fetch the HKO feed of ``entity`` and write it as one content-named drop file.

        Raises:
            ValueError: an entity that is not an HKO feed, or a tenant other than ``public``.
            SourceRequestError, CircuitOpenError: the request failed for good.
        """
        data_type = _HKO_ENTITY_DATA_TYPE.get(entity.entity)
        if data_type is None:
            raise ValueError(f"HKO does not serve {entity.entity}")
        _public_only(HKO_ENV_PREFIX, tenant_id)
        url = self.base_url_for(tenant_id)
        payload = fetch_hko(self.client(tenant_id), url, data_type, self.lang)
        name = snapshot_file_name(f"hko_{data_type}", payload)
        path = write_weather_drop(landing_root, entity.entity, name, payload, tenant_id)
        log(f"hko/{entity.entity}: dataType={data_type} snapshot {name}")
        return PullBatch(files=[path], next_cursor=None, metadata={"file": name})


class OpenMeteoResource(PullResource):
    """Pulls Open-Meteo hourly forecasts (000 §3.2) of the route ports for tenant ``public``.

    ``base_url`` is the full forecast endpoint (``TRACELOOM_OPEN_METEO_URL``, e.g.
    :data:`OPEN_METEO_URL`); one request per port (:func:`fetch_open_meteo`), coordinates from
    the ports seed (``reference.ports``, UN/LOCODE → latitude/longitude). No cursor: each pull
    is a snapshot written whole as ``open_meteo_<content digest>.json`` (a JSON list of the
    responses), so an unchanged answer lands nothing new.

    Attributes (besides :class:`~traceloom_pipelines.landing.pull.PullResource`'s):
        tenants: defaults to ``public`` (any other tenant raises ``ValueError``).
        ports: comma list of UN/LOCODEs (``TRACELOOM_OPEN_METEO_PORTS``); empty:
            :data:`DEFAULT_ROUTE_PORTS`.
        forecast_days: days of hourly forecast asked for (Open-Meteo: 1–16).
    """

    tenants: str = PUBLIC_TENANT
    ports: str = ""
    forecast_days: int = 7

    @property
    def source(self) -> str:
        return "open_meteo"

    def locations(self) -> list[ForecastLocation]:
        """The configured ports with their coordinates from the ports seed.

        Raises:
            ValueError: a UN/LOCODE the ports seed does not know.
        """
        locodes = [p.strip().upper() for p in self.ports.split(",") if p.strip()]
        coordinates = port_coordinates()
        unknown = [code for code in locodes or DEFAULT_ROUTE_PORTS if code not in coordinates]
        if unknown:
            raise ValueError(f"open_meteo: ports not in the ports seed: {', '.join(unknown)}")
        return [
            ForecastLocation(code, *coordinates[code]) for code in locodes or DEFAULT_ROUTE_PORTS
        ]

    def pull(
        self,
        *,
        entity: SourceEntity,
        landing_root: Path,
        tenant_id: str,
        cursor: str | None,
        log: Callable[[str], None],
    ) -> PullBatch:
        """Fetch the forecasts of every configured port and write one content-named drop file.

        Raises:
            ValueError: an entity other than ``open_meteo_forecasts``, a tenant other than
                ``public``, or an unknown port.
            WeatherApiError: an answer that is not a JSON object (nothing is written).
            SourceRequestError, CircuitOpenError: a request failed for good (nothing written).
        """
        if entity.entity != "open_meteo_forecasts":
            raise ValueError(f"Open-Meteo does not serve {entity.entity}")
        _public_only(OPEN_METEO_ENV_PREFIX, tenant_id)
        locations = self.locations()
        responses = fetch_open_meteo(
            self.client(tenant_id), self.base_url_for(tenant_id), locations, self.forecast_days
        )
        name = snapshot_file_name("open_meteo", responses)
        path = write_weather_drop(landing_root, entity.entity, name, responses, tenant_id)
        log(f"open_meteo: {len(locations)} port(s) snapshot {name}")
        return PullBatch(files=[path], next_cursor=None, metadata={"ports": len(locations)})


def hko_from_env() -> HkoResource:
    """The HKO pull resource from ``TRACELOOM_HKO_*`` (disabled when ``TRACELOOM_HKO_URL`` is
    unset; ``TRACELOOM_HKO_LANG`` picks the language)."""
    overrides = {}
    if os.environ.get(f"{HKO_ENV_PREFIX}_LANG"):
        overrides["lang"] = os.environ[f"{HKO_ENV_PREFIX}_LANG"]
    return HkoResource(**pull_env_config(HKO_ENV_PREFIX, **overrides))


def open_meteo_from_env() -> OpenMeteoResource:
    """The Open-Meteo pull resource from ``TRACELOOM_OPEN_METEO_*`` (disabled when
    ``TRACELOOM_OPEN_METEO_URL`` is unset; ``TRACELOOM_OPEN_METEO_PORTS`` lists UN/LOCODEs)."""
    overrides = {}
    if os.environ.get(f"{OPEN_METEO_ENV_PREFIX}_PORTS"):
        overrides["ports"] = os.environ[f"{OPEN_METEO_ENV_PREFIX}_PORTS"]
    return OpenMeteoResource(**pull_env_config(OPEN_METEO_ENV_PREFIX, **overrides))
