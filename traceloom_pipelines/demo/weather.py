"""The demo world's public weather feeds (000 §3.2), as the Hong Kong Observatory and Open-Meteo
publish them: warning summary snapshots (``warnsum``), warning texts (``warningInfo``), the 9-day
forecast (``fnd``) and Open-Meteo hourly forecasts for the route ports.

Pure functions: :func:`weather_files` returns ``{path relative to the landing root: file text}``
and the answer-key entry, deterministic from the seed and ``as_of``; :func:`write_files` writes.

The 30-day history holds:

- a typhoon: signal No. 1 → an update of No. 1 → No. 3 → No. 8 NE → cancelled (HKO's
  ``CANCEL`` code), timed to overlap a Hong Kong port call of a shipment when the answer key
  lists one (``vessels[].voyages[].port_calls``);
- a rainstorm: Amber → Red → cancelled (the cancellation keeps the level code, as in the real
  sample), and a later Amber cancelled an hour on;
- a strong monsoon signal issued two days before ``as_of`` and still in force (open interval).

Every state change is one summary pull (a file); an unchanged warning is re-published in the
next pull as real pulls do, so landing skips it as an exact duplicate.
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from traceloom_pipelines.demo.clock import DAY, HOUR, MINUTE

HKT = timezone(timedelta(hours=8))
WARNING_NAMES = {
    "WTCSGNL": "Tropical Cyclone Warning Signal",
    "WRAIN": "Rainstorm Warning Signal",
    "WMSGNL": "Strong Monsoon Signal",
}
RAIN_TYPES = {"WRAINA": "Amber", "WRAINR": "Red", "WRAINB": "Black"}
# Route ports forecast when the answer key names none (transshipment and destination ports).
DEFAULT_FORECAST_PORTS = ("HKHKG", "SGSIN", "USLAX", "NLRTM", "DEHAM", "CNYTN")
FORECAST_HOURS = 7 * 24


def _hk(ms: int) -> str:
    """Epoch ms as HKO writes times: ISO-8601, seconds, ``+08:00``."""
    return datetime.fromtimestamp(ms / 1000, HKT).isoformat(timespec="seconds")


def _utc(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y%m%dT%H%M%SZ")


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _hk_call_near(vessels: list[dict], target: int, start: int, end: int) -> int | None:
    """Actual arrival (ms) of the Hong Kong port call nearest ``target`` within [start, end)."""
    best: tuple[int, int] | None = None
    for vessel in vessels:
        for voyage in vessel.get("voyages", []):
            for call in voyage.get("port_calls", []):
                if call.get("port") != "HKHKG" or not call.get("actual_arrival"):
                    continue
                at = datetime.fromisoformat(call["actual_arrival"].replace("Z", "+00:00"))
                ms = int(at.timestamp() * 1000)
                if start <= ms < end and (best is None or abs(ms - target) < best[0]):
                    best = (abs(ms - target), ms)
    return best[1] if best else None


def _timeline(
    rng: random.Random, as_of_ms: int, vessels: list[dict], storm_at_ms: int | None = None
) -> list[dict]:
    """Every warning state change, in time order: statement, code, action, issue, update,
    expiry (epoch ms). ``storm_at_ms``: the Hong Kong port call to put the typhoon on (signal
    No. 8 from 6 hours before it); default the call of ``vessels`` nearest 15 days back."""
    start = as_of_ms - 30 * DAY
    call = storm_at_ms
    if call is None:
        call = _hk_call_near(vessels, as_of_ms - 15 * DAY, start + 3 * DAY, as_of_ms - 8 * DAY)
    t8 = (call if call is not None else as_of_ms - rng.randint(12, 20) * DAY) - 6 * HOUR
    t8 -= t8 % (10 * MINUTE)
    t3 = t8 - rng.randint(10, 16) * HOUR
    t1 = t3 - rng.randint(18, 30) * HOUR
    cancel = t8 + rng.randint(20, 30) * HOUR
    events = [
        ("WTCSGNL", "TC1", "ISSUE", t1, t1),
        ("WTCSGNL", "TC1", "UPDATE", t1, t1 + 6 * HOUR),
        ("WTCSGNL", "TC3", "ISSUE", t3, t3),
        ("WTCSGNL", "TC8NE", "ISSUE", t8, t8),
        ("WTCSGNL", "TC8NE", "UPDATE", t8, t8 + 4 * HOUR),
        ("WTCSGNL", "CANCEL", "CANCEL", t8, cancel),
    ]
    amber = as_of_ms - rng.randint(5, 7) * DAY + rng.randint(4, 8) * HOUR
    red = amber + rng.randint(50, 90) * MINUTE
    rain_end = red + rng.randint(2, 3) * HOUR
    amber2 = as_of_ms - 3 * DAY + rng.randint(12, 16) * HOUR
    events += [
        ("WRAIN", "WRAINA", "ISSUE", amber, amber),
        ("WRAIN", "WRAINR", "ISSUE", red, red),
        ("WRAIN", "WRAINR", "CANCEL", red, rain_end),
        ("WRAIN", "WRAINA", "ISSUE", amber2, amber2),
        ("WRAIN", "WRAINA", "CANCEL", amber2, amber2 + HOUR),
    ]
    monsoon = as_of_ms - 2 * DAY + rng.randint(1, 10) * HOUR
    events.append(("WMSGNL", "WMSGNL", "ISSUE", monsoon, monsoon))
    keys = ("statement", "code", "action", "issued", "updated")
    return sorted((dict(zip(keys, e, strict=True)) for e in events), key=lambda e: e["updated"])


def _intervals(events: list[dict]) -> list[dict]:
    """The answer key: each level's [start, end) in UTC as the feed's story says."""
    out = []
    for e in events:
        if e["action"] != "ISSUE":
            continue
        later = [
            x for x in events if x["statement"] == e["statement"] and x["updated"] > e["issued"]
        ]
        ends = [
            (x["updated"], "cancelled" if x["action"] == "CANCEL" else "superseded")
            for x in later
            if x["action"] == "CANCEL" or (x["action"] == "ISSUE" and x["issued"] > e["issued"])
        ]
        end = min(ends) if ends else (None, None)
        out.append(
            {
                "warning_statement_code": e["statement"],
                "warning_code": e["code"],
                "started_at": _utc(e["issued"]),
                "ended_at": _utc(end[0]),
                "end_reason": end[1],
            }
        )
    return out


def _summary_entry(e: dict) -> dict:
    entry = {"name": WARNING_NAMES[e["statement"]], "code": e["code"]}
    if e["code"] in RAIN_TYPES:
        entry["type"] = RAIN_TYPES[e["code"]]
    entry |= {
        "actionCode": e["action"],
        "issueTime": _hk(e["issued"]),
        "updateTime": _hk(e["updated"]),
    }
    return entry


def _detail(e: dict) -> dict:
    name = WARNING_NAMES[e["statement"]]
    verb = "cancelled" if e["action"] == "CANCEL" else "in force"
    return {
        "contents": [
            f"The {name} ({e['code']}) is {verb}.",
            f"Issued at {_hk(e['issued'])[11:16]} HKT; this notice at {_hk(e['updated'])[11:16]}.",
        ],
        "warningStatementCode": e["statement"],
        **({"subtype": e["code"]} if e["statement"] != "WMSGNL" else {}),
        "updateTime": _hk(e["updated"]),
    }


def _pulls(events: list[dict]) -> tuple[dict[str, str], int]:
    """One warnsum and one warningInfo file per state change; a cancelled warning stays one
    more pull, then the feed drops it (``{}`` when nothing is left). Returns files and the
    number of summary records written."""
    files: dict[str, str] = {}
    state: dict[str, dict] = {}
    records = 0
    for e in events:
        for statement in [s for s, v in state.items() if v["action"] == "CANCEL"]:
            del state[statement]
        state[e["statement"]] = e
        summary = {s: _summary_entry(v) for s, v in sorted(state.items())}
        details = {"details": [_detail(v) for _, v in sorted(state.items())]}
        stamp = _stamp(e["updated"] + 2 * MINUTE)
        base = "public/weather"
        files[f"{base}/hko_warning_summary/hko_warnsum_{stamp}.json"] = _dumps(summary)
        files[f"{base}/hko_warning_details/hko_warningInfo_{stamp}.json"] = _dumps(details)
        records += len(summary)
    return files, records


def _final_pull(events: list[dict], as_of_ms: int) -> tuple[str, str, int]:
    """A last summary pull just before ``as_of``: the warnings still in force, unchanged since
    their last pull (so landing counts them as exact duplicates)."""
    state: dict[str, dict] = {}
    for e in events:
        state[e["statement"]] = e
    live = {s: _summary_entry(v) for s, v in sorted(state.items()) if v["action"] != "CANCEL"}
    rel = f"public/weather/hko_warning_summary/hko_warnsum_{_stamp(as_of_ms - 30 * MINUTE)}.json"
    return rel, _dumps(live), len(live)


def _forecast_fnd(rng: random.Random, as_of_ms: int) -> str:
    issued = as_of_ms - 90 * MINUTE
    first = datetime.fromtimestamp(as_of_ms / 1000, HKT).date()
    days = []
    for i in range(9):
        day = first + timedelta(days=i)
        high = rng.randint(27, 33)
        days.append(
            {
                "forecastDate": day.strftime("%Y%m%d"),
                "week": day.strftime("%A"),
                "forecastWind": rng.choice(
                    ["East force 3.", "South force 3 to 4.", "North force 4."]
                ),
                "forecastWeather": rng.choice(["Sunny intervals.", "Mainly cloudy with showers."]),
                "forecastMaxtemp": {"value": high, "unit": "C"},
                "forecastMintemp": {"value": high - rng.randint(3, 6), "unit": "C"},
                "forecastMaxrh": {"value": rng.randint(85, 95), "unit": "percent"},
                "forecastMinrh": {"value": rng.randint(60, 75), "unit": "percent"},
                "ForecastIcon": rng.choice([50, 51, 53, 54, 62]),
                "PSR": rng.choice(["Low", "Medium Low", "Medium", "High"]),
            }
        )
    return _dumps(
        {
            "generalSituation": "A ridge of high pressure covers the coast of southern China.",
            "weatherForecast": days,
            "updateTime": _hk(issued),
        }
    )


def _open_meteo(rng: random.Random, as_of_ms: int, ports: list[tuple[str, float, float]]) -> str:
    start = datetime.fromtimestamp(as_of_ms / 1000, UTC).replace(minute=0, second=0, microsecond=0)
    times = [(start + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M") for h in range(FORECAST_HOURS)]
    responses = []
    for locode, lat, lon in ports:
        base = 30 - abs(lat) / 3
        wind = [round(rng.uniform(5, 35), 1) for _ in times]
        responses.append(
            {
                "location_id": locode,
                "latitude": round(lat * 4) / 4,
                "longitude": round(lon * 4) / 4,
                "generationtime_ms": 0.5,
                "utc_offset_seconds": 0,
                "timezone": "UTC",
                "timezone_abbreviation": "UTC",
                "elevation": 5.0,
                "hourly_units": {
                    "time": "iso8601",
                    "temperature_2m": "°C",
                    "precipitation": "mm",
                    "wind_speed_10m": "km/h",
                    "wind_gusts_10m": "km/h",
                },
                "hourly": {
                    "time": times,
                    "temperature_2m": [round(base + rng.uniform(-3, 3), 1) for _ in times],
                    "precipitation": [
                        round(rng.choice([0, 0, 0, 0.1, 0.6, 2.4]), 1) for _ in times
                    ],
                    "wind_speed_10m": wind,
                    "wind_gusts_10m": [round(w * rng.uniform(1.3, 1.8), 1) for w in wind],
                },
            }
        )
    return _dumps(responses)


def route_ports(vessels: list[dict]) -> list[str]:
    """Distinct UN/LOCODEs of the answer key's port calls, sorted; the defaults if none."""
    ports = {
        call["port"]
        for vessel in vessels
        for voyage in vessel.get("voyages", [])
        for call in voyage.get("port_calls", [])
        if call.get("port")
    }
    return sorted(ports) or list(DEFAULT_FORECAST_PORTS)


def weather_files(
    seed: int,
    as_of_ms: int,
    vessels: list[dict],
    coordinates: dict[str, tuple[float, float]],
    storm_at_ms: int | None = None,
) -> tuple[dict[str, str], dict]:
    """The weather drop files and the answer-key entry ``weather``.

    Args:
        seed: world seed.
        as_of_ms: end of the history, epoch ms UTC.
        vessels: the answer key's ``vessels`` (port calls place the typhoon and name the
            forecast ports); may be empty.
        coordinates: UN/LOCODE → (latitude, longitude) for the forecast ports (reference.ports);
            a port without coordinates gets no forecast.
        storm_at_ms: a Hong Kong port call (epoch ms) the typhoon must overlap (see
            :func:`_timeline`); default: picked from ``vessels``.

    Returns:
        ``({relative path: text}, key)`` where key holds ``warning_intervals`` (statement,
        level, UTC start/end, end reason; end null while in force), ``warning_summary_records``
        (records in all summary files), ``warning_summary_duplicates`` (of those, unchanged
        re-publications landing skips), ``forecast_locations`` and ``forecast_hours``.
    """
    rng = random.Random(f"{seed}-weather")
    events = _timeline(rng, as_of_ms, vessels, storm_at_ms)
    files, summary_records = _pulls(events)
    final_rel, final_text, repeated = _final_pull(events, as_of_ms)
    files[final_rel] = final_text
    files[f"public/weather/hko_forecasts/hko_fnd_{_stamp(as_of_ms - 80 * MINUTE)}.json"] = (
        _forecast_fnd(rng, as_of_ms)
    )
    ports = [(p, *coordinates[p]) for p in route_ports(vessels) if p in coordinates]
    files[f"public/weather/open_meteo_forecasts/open_meteo_{_stamp(as_of_ms - HOUR)}.json"] = (
        _open_meteo(rng, as_of_ms, ports)
    )
    key = {
        "warning_intervals": sorted(
            _intervals(events), key=lambda i: (i["warning_statement_code"], i["started_at"])
        ),
        "warning_summary_records": summary_records + repeated,
        "warning_summary_duplicates": repeated,
        "forecast_locations": [p for p, _, _ in ports],
        "forecast_hours": FORECAST_HOURS,
    }
    return files, key


def write_files(landing_dir: Path, files: dict[str, str], folders: tuple[str, ...]) -> None:
    """Empty each of ``folders`` (relative to ``landing_dir``), then write ``files``."""
    for folder in folders:
        shutil.rmtree(landing_dir / folder, ignore_errors=True)
    for rel, text in sorted(files.items()):
        target = landing_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


WEATHER_FOLDERS = (
    "public/weather/hko_warning_summary",
    "public/weather/hko_warning_details",
    "public/weather/hko_forecasts",
    "public/weather/open_meteo_forecasts",
)
