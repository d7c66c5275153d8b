"""The weather source: HKO warning summary (the real live capture), warning details, 9-day forecast
and Open-Meteo hourly forecasts through the readers, the pandera contract and DuckDB; the HTTP
pull against a real local server; warning intervals after a real dbt build, checked against an
HKO issue → update → cancel sequence, the real sample and the demo world's answer key."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from traceloom_pipelines.dbt_targets import run_dbt
from traceloom_pipelines.demo.clock import to_ms
from traceloom_pipelines.demo.weather import weather_files, write_files
from traceloom_pipelines.landing.loader import LandingResult, land_entity
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.reference.ports import port_coordinates
from traceloom_pipelines.sources.weather.connector import (
    ForecastLocation,
    WeatherApiError,
    iter_hko_forecast_records,
    iter_hko_warning_details_records,
    iter_hko_warning_summary_records,
    iter_open_meteo_records,
    pull_hko,
    pull_open_meteo,
)
from traceloom_pipelines.sources.weather.contract import ENTITIES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REAL_SAMPLES = PROJECT_ROOT / "data" / "samples" / "weather"
WARNSUM_SAMPLE = REAL_SAMPLES / "hko_warnsum_live_2026-07-31_en.json"
BY_NAME = {entity.entity: entity for entity in ENTITIES}

# A copy of the live capture travels with the tests, so they run where shared/ is absent.
WARNSUM_TEXT = (
    WARNSUM_SAMPLE.read_text(encoding="utf-8")
    if WARNSUM_SAMPLE.exists()
    else '{"WRAIN":{"name":"Rainstorm Warning Signal","code":"WRAINA","type":"Amber",'
    '"actionCode":"CANCEL","issueTime":"2026-07-31T14:10:00+08:00","updateTime":'
    '"2026-07-31T15:05:00+08:00"},"WTS":{"name":"Thunderstorm Warning","code":"WTS",'
    '"actionCode":"EXTEND","issueTime":"2026-07-31T06:00:00+08:00","expireTime":'
    '"2026-07-31T18:30:00+08:00","updateTime":"2026-07-31T16:00:00+08:00"}}\n'
)


def _drop(root: Path, tenant: str, entity: str, name: str, payload: object) -> Path:
    path = root / tenant / "weather" / entity / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload), "utf-8")
    return path


def _land(data_dir: Path) -> dict[str, LandingResult]:
    con = connect(data_dir)
    try:
        return {e.entity: land_entity(con, e, data_dir / "landing") for e in ENTITIES}
    finally:
        con.close()


def _query(data_dir: Path, sql: str, params: object = None) -> list[tuple]:
    con = connect(data_dir, read_only=True)
    try:
        return run(con, sql, params)
    finally:
        con.close()


def _summary(code: str, action: str, issued: str, updated: str, **extra: str) -> dict:
    return {
        "WTCSGNL": {
            "name": "Tropical Cyclone Warning Signal",
            "code": code,
            "actionCode": action,
            "issueTime": issued,
            "updateTime": updated,
            **extra,
        }
    }


# -- readers and landing on the real capture -----------------------------------------------------


def test_real_warning_summary_is_one_record_per_warning(tmp_path: Path) -> None:
    path = _drop(tmp_path, "public", "hko_warning_summary", "warnsum.json", WARNSUM_TEXT)
    records = [(n, json.loads(text)) for n, text in iter_hko_warning_summary_records(path)]
    assert [(n, r["warningStatementCode"], r["code"], r["actionCode"]) for n, r in records] == [
        (1, "WRAIN", "WRAINA", "CANCEL"),
        (2, "WTS", "WTS", "EXTEND"),
    ]
    assert records[1][1]["expireTime"] == "2026-07-31T18:30:00+08:00"


def test_real_warning_summary_lands_in_utc(tmp_path: Path) -> None:
    _drop(tmp_path / "landing", "public", "hko_warning_summary", "warnsum.json", WARNSUM_TEXT)
    result = _land(tmp_path)["hko_warning_summary"].total
    assert (result.rows_read, result.rows_landed, result.rows_quarantined) == (2, 2, 0)
    assert _query(
        tmp_path,
        'select "warningStatementCode", code, type, "actionCode", "issueTime", "updateTime", '
        '"expireTime" from raw.weather__hko_warning_summary order by 1',
    ) == [
        (
            "WRAIN",
            "WRAINA",
            "Amber",
            "CANCEL",
            datetime(2026, 7, 31, 6, 10),
            datetime(2026, 7, 31, 7, 5),
            None,
        ),
        (
            "WTS",
            "WTS",
            None,
            "EXTEND",
            datetime(2026, 7, 30, 22, 0),
            datetime(2026, 7, 31, 8, 0),
            datetime(2026, 7, 31, 10, 30),
        ),
    ]
    # the same pull again lands nothing new: the file is skipped, a re-published copy is a duplicate
    _drop(tmp_path / "landing", "public", "hko_warning_summary", "warnsum2.json", WARNSUM_TEXT)
    again = _land(tmp_path)["hko_warning_summary"]
    assert (again.total.rows_read, again.total.rows_duplicate) == (2, 2)
    assert again.files_skipped == ["public/weather/hko_warning_summary/warnsum.json"]


def test_empty_summary_yields_nothing_and_garbage_is_quarantined(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    _drop(root, "public", "hko_warning_summary", "a_empty.json", "{}")
    _drop(root, "public", "hko_warning_summary", "b_truncated.json", '{"WRAIN":{"name":')
    _drop(
        root,
        "public",
        "hko_warning_summary",
        "c_odd.json",
        _summary("TC8NE", "RAISE", "2026-07-31T10:00:00+08:00", "yesterday"),
    )
    result = _land(tmp_path)["hko_warning_summary"].total
    assert (result.rows_read, result.rows_landed, result.rows_quarantined) == (2, 0, 2)
    assert _query(
        tmp_path,
        "select source_file, reason from audit.quarantine where entity = 'hko_warning_summary' "
        "order by source_file",
    ) == [
        ("public/weather/hko_warning_summary/b_truncated.json", "_record:valid_json"),
        (
            "public/weather/hko_warning_summary/c_odd.json",
            "actionCode:isin; updateTime:is_timestamp",
        ),
    ]


def test_a_forecast_day_not_yyyymmdd_is_quarantined_under_its_check_name(tmp_path: Path) -> None:
    """The reason names the contract's check (`is_yyyymmdd`), as the README's contract table
    does, not pandera's built-in `str_matches('...')`."""
    _drop(
        tmp_path / "landing",
        "public",
        "hko_forecasts",
        "fnd.json",
        {
            "updateTime": "2026-07-31T11:30:00+08:00",
            "weatherForecast": [
                {"forecastDate": "20260801", "PSR": "Low"},
                {"forecastDate": "2026-08-02", "PSR": "Low"},
            ],
        },
    )
    result = _land(tmp_path)["hko_forecasts"].total
    assert (result.rows_landed, result.rows_quarantined) == (1, 1)
    assert _query(
        tmp_path, "select reason from audit.quarantine where entity = 'hko_forecasts'"
    ) == [("forecastDate:is_yyyymmdd",)]


def test_details_forecast_and_open_meteo_readers(tmp_path: Path) -> None:
    details = _drop(
        tmp_path,
        "public",
        "hko_warning_details",
        "info.json",
        {
            "details": [
                {
                    "contents": [
                        "The No. 8 Northeast Gale or Storm Signal is issued.",
                        "Take care.",
                    ],
                    "warningStatementCode": "WTCSGNL",
                    "subtype": "TC8NE",
                    "updateTime": "2026-07-18T20:40:00+08:00",
                }
            ]
        },
    )
    assert [json.loads(t)["subtype"] for _, t in iter_hko_warning_details_records(details)] == [
        "TC8NE"
    ]
    fnd = _drop(
        tmp_path,
        "public",
        "hko_forecasts",
        "fnd.json",
        {
            "generalSituation": "An anticyclone.",
            "updateTime": "2026-07-31T11:30:00+08:00",
            "weatherForecast": [
                {
                    "forecastDate": "20260801",
                    "week": "Saturday",
                    "forecastMaxtemp": {"value": 33, "unit": "C"},
                    "PSR": "Medium",
                },
                {"forecastDate": "20260802", "week": "Sunday", "PSR": "Low"},
            ],
        },
    )
    days = [json.loads(t) for _, t in iter_hko_forecast_records(fnd)]
    assert [(d["forecastDate"], d["updateTime"]) for d in days] == [
        ("20260801", "2026-07-31T11:30:00+08:00"),
        ("20260802", "2026-07-31T11:30:00+08:00"),
    ]
    meteo = _drop(
        tmp_path,
        "public",
        "open_meteo_forecasts",
        "om.json",
        {
            "location_id": "HKHKG",
            "latitude": 22.25,
            "longitude": 114.125,
            "utc_offset_seconds": 28800,
            "timezone": "Asia/Hong_Kong",
            "hourly_units": {"temperature_2m": "°C", "wind_speed_10m": "km/h"},
            "hourly": {
                "time": ["2026-08-01T00:00", "2026-08-01T01:00"],
                "temperature_2m": [28.1, 27.9],
                "wind_speed_10m": [12.0, 14.5],
            },
        },
    )
    hours = [json.loads(t) for _, t in iter_open_meteo_records(meteo)]
    assert [(h["forecast_time"], h["temperature_2m"], h["precipitation"]) for h in hours] == [
        ("2026-08-01T00:00:00+08:00", 28.1, None),
        ("2026-08-01T01:00:00+08:00", 27.9, None),
    ]


# -- HTTP pull against a real local server ------------------------------------------------------


def test_pull_hko_and_open_meteo_write_landable_drops(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    root = tmp_path / "landing"
    now = datetime(2026, 7, 31, 8, 15, tzinfo=UTC)
    # the first warnsum request fails with 503 and is retried
    httpserver.expect_ordered_request(
        "/weather.php", query_string={"dataType": "warnsum", "lang": "en"}
    ).respond_with_response(Response("busy", status=503))
    httpserver.expect_ordered_request(
        "/weather.php", query_string={"dataType": "warnsum", "lang": "en"}
    ).respond_with_data(WARNSUM_TEXT, content_type="application/json")
    httpserver.expect_ordered_request(
        "/weather.php", query_string={"dataType": "warningInfo", "lang": "en"}
    ).respond_with_json({})
    httpserver.expect_ordered_request(
        "/weather.php", query_string={"dataType": "fnd", "lang": "en"}
    ).respond_with_json(
        {
            "updateTime": "2026-07-31T11:30:00+08:00",
            "weatherForecast": [{"forecastDate": "20260801", "PSR": "High"}],
        }
    )
    written = pull_hko(root, base_url=httpserver.url_for("/weather.php"), now=now)
    assert [p.relative_to(root).as_posix() for p in written] == [
        "public/weather/hko_warning_summary/hko_warnsum_20260731T081500Z.json",
        "public/weather/hko_warning_details/hko_warningInfo_20260731T081500Z.json",
        "public/weather/hko_forecasts/hko_fnd_20260731T081500Z.json",
    ]
    httpserver.expect_request("/v1/forecast").respond_with_json(
        {
            "latitude": 22.3,
            "longitude": 114.2,
            "utc_offset_seconds": 0,
            "timezone": "GMT",
            "hourly_units": {"precipitation": "mm"},
            "hourly": {"time": ["2026-07-31T09:00"], "precipitation": [3.2]},
        }
    )
    pull_open_meteo(
        root,
        [ForecastLocation("HKHKG", 22.29, 114.17)],
        base_url=httpserver.url_for("/v1/forecast"),
        now=now,
    )
    results = _land(tmp_path)
    counts = {name: r.total.rows_landed for name, r in results.items()}
    assert counts == {
        "hko_warning_summary": 2,
        "hko_warning_details": 0,
        "hko_forecasts": 1,
        "open_meteo_forecasts": 1,
    }
    assert _query(
        tmp_path,
        "select location_id, forecast_time, precipitation from raw.weather__open_meteo_forecasts",
    ) == [("HKHKG", datetime(2026, 7, 31, 9, 0), 3.2)]


def test_pull_rejects_a_client_error_without_writing(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/weather.php").respond_with_data("bad dataType", status=400)
    with pytest.raises(WeatherApiError, match="400") as raised:
        pull_hko(tmp_path, base_url=httpserver.url_for("/weather.php"))
    assert not any(tmp_path.rglob("*.json"))
    # A wrapped request failure keeps its own failure class (not "protocol").
    assert raised.value.error_class == "client_error"


# -- intervals after a real dbt build ------------------------------------------------------------


def _dbt_build(data_dir: Path, tmp_path: Path, select: str) -> None:
    done = run_dbt(data_dir, ["build", "--select", select], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout


AS_OF = datetime(2026, 7, 31, tzinfo=UTC)


@pytest.fixture(scope="module")
def intervals(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Three worlds landed side by side (one tenant folder each) and built with dbt: an HKO
    issue → update → cancel sequence, the real capture, and the demo world's weather."""
    data_dir = tmp_path_factory.mktemp("weather")
    root = data_dir / "landing"
    seq = "hko-sequence"
    _drop(
        root,
        seq,
        "hko_warning_summary",
        "p1.json",
        _summary("TC8NE", "ISSUE", "2026-07-18T20:40:00+08:00", "2026-07-18T20:40:00+08:00"),
    )
    _drop(
        root,
        seq,
        "hko_warning_summary",
        "p2.json",
        _summary("TC8NE", "UPDATE", "2026-07-18T20:40:00+08:00", "2026-07-19T01:45:00+08:00"),
    )
    _drop(
        root,
        seq,
        "hko_warning_summary",
        "p3.json",
        _summary("TC8NE", "CANCEL", "2026-07-18T20:40:00+08:00", "2026-07-19T11:20:00+08:00"),
    )
    _drop(root, "real-capture", "hko_warning_summary", "live.json", WARNSUM_TEXT)
    files, key = weather_files(7, to_ms(AS_OF), [], port_coordinates())
    write_files(root, files, ())
    results = _land(data_dir)
    _dbt_build(
        data_dir,
        tmp_path_factory.mktemp("dbt"),
        "+int_weather_warning_intervals "
        "stg_weather__hko_forecasts stg_weather__open_meteo_forecasts "
        "stg_weather__hko_warning_details ports",
    )
    return data_dir, {"key": key, "results": results}


def _intervals_of(data_dir: Path, tenant: str) -> list[tuple]:
    return _query(
        data_dir,
        "select warning_statement_code, warning_code, started_at, ended_at, end_reason, "
        "state_changes from intermediate.int_weather_warning_intervals where tenant_id = ? "
        "order by warning_statement_code, started_at",
        [tenant],
    )


@pytest.mark.slow
def test_issue_update_cancel_is_one_interval_in_utc(intervals: tuple[Path, dict]) -> None:
    data_dir, _ = intervals
    assert _intervals_of(data_dir, "hko-sequence") == [
        (
            "WTCSGNL",
            "TC8NE",
            datetime(2026, 7, 18, 12, 40),
            datetime(2026, 7, 19, 3, 20),
            "cancelled",
            3,
        )
    ]


@pytest.mark.slow
def test_real_capture_intervals(intervals: tuple[Path, dict]) -> None:
    data_dir, _ = intervals
    assert _intervals_of(data_dir, "real-capture") == [
        (
            "WRAIN",
            "WRAINA",
            datetime(2026, 7, 31, 6, 10),
            datetime(2026, 7, 31, 7, 5),
            "cancelled",
            1,
        ),
        ("WTS", "WTS", datetime(2026, 7, 30, 22, 0), datetime(2026, 7, 31, 10, 30), "expires", 1),
    ]


@pytest.mark.slow
def test_demo_world_intervals_match_the_answer_key(intervals: tuple[Path, dict]) -> None:
    data_dir, extra = intervals
    key = extra["key"]

    def iso(moment: datetime | None) -> str | None:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None

    got = [
        {
            "warning_statement_code": s,
            "warning_code": c,
            "started_at": iso(start),
            "ended_at": iso(end),
            "end_reason": reason,
        }
        for s, c, start, end, reason, _ in _intervals_of(data_dir, "public")
    ]
    assert got == key["warning_intervals"]
    # typhoon T1 → T3 → T8 → cancel, and the monsoon signal still in force
    assert [i["warning_code"] for i in got if i["warning_statement_code"] == "WTCSGNL"] == [
        "TC1",
        "TC3",
        "TC8NE",
    ]
    assert [i["ended_at"] for i in got if i["warning_statement_code"] == "WMSGNL"] == [None]
    summary = extra["results"]["hko_warning_summary"].per_tenant["public"]
    assert summary.rows_read == key["warning_summary_records"]
    assert summary.rows_duplicate == key["warning_summary_duplicates"] == 1


@pytest.mark.slow
def test_demo_forecasts_are_staged_per_port_and_hour(intervals: tuple[Path, dict]) -> None:
    data_dir, extra = intervals
    key = extra["key"]
    assert _query(
        data_dir,
        "select count(distinct locode), count(*) from staging.stg_weather__open_meteo_forecasts "
        "where tenant_id = 'public'",
    ) == [(len(key["forecast_locations"]), len(key["forecast_locations"]) * key["forecast_hours"])]
    assert _query(
        data_dir,
        "select count(*), min(forecast_date) from staging.stg_weather__hko_forecasts "
        "where tenant_id = 'public'",
    ) == [(9, date(2026, 7, 31))]  # as_of 00:00 UTC is 08:00 in Hong Kong, same day
