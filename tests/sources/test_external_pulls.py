"""The external feeds pulled over HTTP: DCSA Track & Trace (``Next-Page`` links and the
``Next-Page-Cursor`` fallback, carrier spellings, incremental by ``eventCreatedDateTime:gte``),
HKO and Open-Meteo snapshots (tenant ``public``) and the certifications REST feed. Real HTTP on
loopback (pytest-httpserver, and the demo server for DCSA's carrier quirks), the real pull
resources, the real ingestion assets (``dagster.materialize``) and a real DuckDB file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from traceloom_pipelines.demo.serve import DemoServer, Faults, TenantWorld
from traceloom_pipelines.integration.breaker import reset_breakers
from traceloom_pipelines.integration.http import SourceProtocolError, SourceRequestError
from traceloom_pipelines.landing.assets import PULL_CHECK, build_ingestion_asset
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.sources.certifications.connector import (
    CertificationsApiResource,
    CertificationsPullError,
)
from traceloom_pipelines.sources.certifications.contract import audits, certificates
from traceloom_pipelines.sources.erp.odata import ODataLiteralError, ODataProtocolError
from traceloom_pipelines.sources.hr.connector import HrPullError
from traceloom_pipelines.sources.logistics.connector import (
    CREATED_SINCE,
    NEXT_PAGE_CURSOR,
    DcsaEventsResource,
    DcsaPullError,
)
from traceloom_pipelines.sources.logistics.contract import dcsa_events
from traceloom_pipelines.sources.weather.connector import (
    HkoResource,
    OpenMeteoResource,
    WeatherApiError,
)
from traceloom_pipelines.sources.weather.contract import (
    hko_forecasts,
    hko_warning_summary,
    open_meteo_forecasts,
)
from traceloom_pipelines.sources.wms.connector import WmsPullError

TENANT = "acme-apparel"
SOURCES = ("dcsa", "hko", "open_meteo", "certifications")
FAST = dict(timeout_s=2.0, max_attempts=3, backoff_initial_s=0.01, backoff_max_s=0.02)


@pytest.fixture(autouse=True)
def _closed_breakers():
    for source in SOURCES:
        reset_breakers(source)
    yield
    for source in SOURCES:
        reset_breakers(source)


def _materialize(data_dir: Path, entity, key: str, resource) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_ingestion_asset(entity, puller=key)],
        resources={"warehouse": WarehouseResource(data_dir=str(data_dir)), key: resource},
        raise_on_error=False,
    )


def _pull_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == PULL_CHECK]
    return evaluation


def _query(data_dir: Path, sql: str) -> list[tuple]:
    con = connect(data_dir, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _landed_metadata(result: dg.ExecuteInProcessResult, entity) -> dict:
    (materialization,) = result.asset_materializations_for_node(f"land_{entity.table}")
    return {k: v.value for k, v in materialization.metadata.items()}


def _cursor(data_dir: Path, source: str, entity: str, tenant: str) -> str | None:
    rows = _query(
        data_dir,
        f"select cursor from audit.connector_state where source = '{source}' "
        f"and entity = '{entity}' and tenant_id = '{tenant}'",
    )
    return rows[0][0] if rows else None


# -- DCSA Track & Trace ---------------------------------------------------------------------

T0 = datetime(2026, 2, 3, 12, 0, tzinfo=UTC)
HKT = timezone(timedelta(hours=8))


def _dcsa_event(n: int) -> dict:
    created = T0 + timedelta(minutes=10 * n)
    return {
        "eventID": f"evt-{n:04d}",
        "eventType": "EQUIPMENT",
        "eventClassifierCode": "ACT",
        "eventDateTime": (created - timedelta(minutes=5)).isoformat(),
        # carriers mix offsets: odd events carry +08:00, even ones Z
        "eventCreatedDateTime": (
            created.astimezone(HKT).isoformat() if n % 2 else created.strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
        "equipmentEventTypeCode": "LOAD",
        "equipmentReference": f"MSKU{9070000 + n}",
        "emptyIndicatorCode": "LADEN",
        "transportCall": {
            "UNLocationCode": "CNYTN",
            "exportVoyageNumber": "2106E",
            "modeOfTransport": "VESSEL",
            "vessel": {"vesselName": "Maersk Kowloon", "vesselOperatorCarrierCode": "MAEU"},
        },
        "documentReferences": [{"documentReferenceType": "BKG", "documentReferenceValue": "B1"}],
    }


def _created(event: dict) -> datetime:
    return datetime.fromisoformat(event["eventCreatedDateTime"])


class DcsaCarrier:
    """A DCSA T&T v2 events endpoint: ``eventCreatedDateTime:gte`` filter, ``limit`` pages
    chained by ``Next-Page-Cursor``; ``fail_first`` answers that many requests with 500."""

    def __init__(self, events: list[dict], fail_first: int = 0):
        self.events = events
        self.fail_first = fail_first
        self.requests: list[dict] = []
        self.served: list[dict] = []
        self._pending: dict[str, list[dict]] = {}

    def __call__(self, request: Request) -> Response:
        args = dict(request.args)
        self.requests.append(args)
        if self.fail_first:
            self.fail_first -= 1
            return Response("upstream busy", status=500)
        limit = int(args["limit"])
        if "cursor" in args:
            remaining = self._pending.pop(args["cursor"])
        else:
            since = args.get(CREATED_SINCE)
            remaining = sorted(
                (
                    e
                    for e in self.events
                    if since is None or _created(e) >= datetime.fromisoformat(since)
                ),
                key=_created,
            )
        page, rest = remaining[:limit], remaining[limit:]
        self.served.extend(page)
        headers = {}
        if rest:
            token = f"c{len(self.requests)}"
            self._pending[token] = rest
            headers[NEXT_PAGE_CURSOR] = token
        return Response(json.dumps(page), headers=headers, content_type="application/json")


def test_dcsa_pull_pages_by_cursor_lands_and_resumes_from_the_stored_cursor(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    carrier = DcsaCarrier([_dcsa_event(n) for n in range(7)], fail_first=1)
    httpserver.expect_request("/acme-apparel/v2/events").respond_with_handler(carrier)
    resource = DcsaEventsResource(
        base_url=httpserver.url_for("/{tenant}"),
        tenants=TENANT,
        carrier="MAEU",
        page_size=3,
        **FAST,
    )

    first = _materialize(tmp_path, dcsa_events, "dcsa_api", resource)
    assert first.success
    # 7 events, limit 3: three pages; the first request failed with 500 and was retried
    assert [sorted(r) for r in carrier.requests] == [
        ["limit"],
        ["limit"],
        ["cursor", "limit"],
        ["cursor", "limit"],
    ]
    landed = _query(
        tmp_path, "select count(*), count(distinct eventID) from raw.logistics__dcsa_events"
    )
    assert landed == [(len(carrier.served), 7)]
    newest = max(carrier.events, key=_created)
    assert _cursor(tmp_path, "dcsa", "dcsa_events", TENANT) == newest["eventCreatedDateTime"]
    meta = _landed_metadata(first, dcsa_events)
    assert (meta["rows_read"], meta["rows_landed"], meta["pull_retries"]) == (7, 7, 1)

    # two new events arrive; the next pull asks only for events created since the cursor
    carrier.events += [_dcsa_event(7), _dcsa_event(8)]
    carrier.requests.clear()
    carrier.served.clear()
    second = _materialize(tmp_path, dcsa_events, "dcsa_api", resource)
    assert second.success
    assert carrier.requests[0] == {
        "limit": "3",
        CREATED_SINCE: newest["eventCreatedDateTime"],
    }
    # the boundary event comes again (gte) and is skipped as an exact duplicate
    assert [e["eventID"] for e in carrier.served] == ["evt-0006", "evt-0007", "evt-0008"]
    meta = _landed_metadata(second, dcsa_events)
    assert (meta["rows_read"], meta["rows_landed"], meta["rows_duplicate"]) == (3, 2, 1)
    assert _query(
        tmp_path, "select count(*), count(distinct eventID) from raw.logistics__dcsa_events"
    ) == [(9, 9)]
    assert (
        _cursor(tmp_path, "dcsa", "dcsa_events", TENANT) == _dcsa_event(8)["eventCreatedDateTime"]
    )


def test_dcsa_pull_that_fails_for_good_keeps_the_cursor(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    carrier = DcsaCarrier([_dcsa_event(n) for n in range(2)], fail_first=99)
    httpserver.expect_request("/v2/events").respond_with_handler(carrier)
    resource = DcsaEventsResource(base_url=httpserver.url_for("/"), tenants=TENANT, **FAST)
    result = _materialize(tmp_path, dcsa_events, "dcsa_api", resource)
    # The step succeeds (downstream steps still run); the failed pull fails its check.
    assert result.success
    check = _pull_check(result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["failed_tenants"].value == TENANT
    assert check.metadata["pull_failures"].value[TENANT]["failure_class"] == "server_error"
    assert len(carrier.requests) == FAST["max_attempts"]
    assert _cursor(tmp_path, "dcsa", "dcsa_events", TENANT) is None
    assert _query(
        tmp_path, "select status, error_class from audit.dead_letters where source = 'dcsa'"
    ) == [(500, "server_error")]
    assert _query(tmp_path, "select status from audit.connector_runs") == [("pull_failed",)]


# -- DCSA through the demo server: next page headers and carrier spellings ---------------------


@pytest.fixture
def dcsa_server():
    events = [_dcsa_event(n) for n in range(7)]
    with DemoServer({TENANT: TenantWorld(dcsa_events=events)}) as server:
        yield server


def _dcsa_resource(server: DemoServer) -> DcsaEventsResource:
    return DcsaEventsResource(
        base_url=f"{server.url}/{{tenant}}", tenants=TENANT, carrier="MAEU", **FAST
    )


def _dcsa_requests(server: DemoServer) -> list[dict[str, str]]:
    """Query parameters of the DCSA requests the server answered, in order."""
    return [
        {k: v[-1] for k, v in parse_qs(urlsplit(path).query).items()}
        for _method, path, _status in server.request_log
        if urlsplit(path).path == f"/{TENANT}/v2/events"
    ]


def _dcsa_drops(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "landing" / TENANT / "logistics" / "dcsa_events").glob("*.jsonl"))


@pytest.mark.parametrize(
    ("header_mode", "next_page_params"),
    [
        pytest.param(1, ["cursor"], id="relative-Next-Page-link"),
        pytest.param(2, ["cursor"], id="absolute-Next-Page-link"),
        pytest.param(0, ["cursor", "limit"], id="Next-Page-Cursor-fallback"),
    ],
)
def test_dcsa_pull_reads_every_page_of_a_stream(
    dcsa_server: DemoServer, tmp_path: Path, header_mode: int, next_page_params: list[str]
) -> None:
    # the carrier caps pages at 2 events whatever limit asks: 7 events are 4 pages
    dcsa_server.faults = Faults(dcsa_next_page_header=header_mode, dcsa_page_size=2)
    result = _materialize(tmp_path, dcsa_events, "dcsa_api", _dcsa_resource(dcsa_server))
    assert result.success
    asked = _dcsa_requests(dcsa_server)
    assert [sorted(a) for a in asked] == [["limit"]] + [next_page_params] * 3
    assert len(_dcsa_drops(tmp_path)) == 4
    assert _query(
        tmp_path, "select count(*), count(distinct eventID) from raw.logistics__dcsa_events"
    ) == [(7, 7)]
    assert _query(tmp_path, "select count(*) from audit.quarantine") == [(0,)]
    newest = _dcsa_event(6)["eventCreatedDateTime"]
    assert _cursor(tmp_path, "dcsa", "dcsa_events", TENANT) == newest


def test_dcsa_pull_stops_with_a_clear_pull_check_failure_when_the_next_page_link_repeats(
    dcsa_server: DemoServer, tmp_path: Path
) -> None:
    dcsa_server.faults = Faults(dcsa_next_page_header=1, dcsa_page_size=2, dcsa_repeat_next_page=1)
    result = _materialize(tmp_path, dcsa_events, "dcsa_api", _dcsa_resource(dcsa_server))
    # A protocol error fails the tenant's pull and its check, not the step.
    assert result.success
    check = _pull_check(result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["failed_tenants"].value == TENANT
    failure = check.metadata["pull_failures"].value[TENANT]
    assert failure["failure_class"] == "protocol"
    assert "repeated the next page" in failure["error"] and "after page 2" in failure["error"]
    # page 1, then page 2 naming itself as the next page: two requests, no loop
    assert [sorted(a) for a in _dcsa_requests(dcsa_server)] == [["limit"], ["cursor"]]
    assert _cursor(tmp_path, "dcsa", "dcsa_events", TENANT) is None
    runs = _query(tmp_path, "select status, error from audit.connector_runs")
    assert [status for status, _ in runs] == ["pull_failed"]
    assert "repeated the next page" in runs[0][1]
    # The two pages read before the loop hold well-formed events and land once each (the next
    # pull asks from the same cursor again); nothing else arrived, nothing is quarantined.
    assert _query(
        tmp_path, 'select "eventID" from raw.logistics__dcsa_events order by "eventID"'
    ) == [(f"evt-{n:04d}",) for n in range(4)]
    assert _query(tmp_path, "select count(*) from audit.quarantine") == [(0,)]
    assert _query(tmp_path, "select count(*) from audit.dead_letters") == [(0,)]


def test_dcsa_carrier_spellings_land_with_the_canonical_names_and_codes(
    dcsa_server: DemoServer, tmp_path: Path
) -> None:
    dcsa_server.faults = Faults(dcsa_carrier_spelling=1, dcsa_next_page_header=1, dcsa_page_size=3)
    result = _materialize(tmp_path, dcsa_events, "dcsa_api", _dcsa_resource(dcsa_server))
    assert result.success
    # on the wire (and in the drop files) the carrier's spelling ...
    pulled = [
        json.loads(line) for p in _dcsa_drops(tmp_path) for line in p.read_text().splitlines()
    ]
    assert len(pulled) == 7
    assert all("eventId" in e and "eventID" not in e for e in pulled)
    assert {(e["eventType"], e["emptyIndicatorCode"]) for e in pulled} == {("Equipment", "Laden")}
    assert all("unLocationCode" in e["transportCall"] for e in pulled)
    # ... in the lake DCSA's: nothing quarantined, canonical codes and the location landed
    assert _landed_metadata(result, dcsa_events)["rows_quarantined"] == 0
    assert _query(tmp_path, "select count(*) from audit.quarantine") == [(0,)]
    landed = _query(
        tmp_path,
        'select "eventID", "eventType", "eventClassifierCode", "equipmentEventTypeCode", '
        '"emptyIndicatorCode", "transportCall_UNLocationCode" '
        'from raw.logistics__dcsa_events order by "eventID"',
    )
    assert landed == [
        (f"evt-{n:04d}", "EQUIPMENT", "ACT", "LOAD", "LADEN", "CNYTN") for n in range(7)
    ]


# -- HKO and Open-Meteo snapshots (tenant public) ---------------------------------------------

WARNSUM = {
    "WTCSGNL": {
        "name": "Tropical Cyclone Warning Signal",
        "code": "TC8NE",
        "actionCode": "ISSUE",
        "issueTime": "2026-07-31T10:40:00+08:00",
        "updateTime": "2026-07-31T10:40:00+08:00",
    },
    "WRAIN": {
        "name": "Rainstorm Warning Signal",
        "code": "WRAINA",
        "type": "Amber",
        "actionCode": "ISSUE",
        "issueTime": "2026-07-31T11:00:00+08:00",
        "updateTime": "2026-07-31T11:00:00+08:00",
    },
}
FND = {
    "generalSituation": "A typhoon is approaching.",
    "updateTime": "2026-07-31T11:30:00+08:00",
    "weatherForecast": [
        {"forecastDate": f"202608{d:02d}", "week": "Saturday", "PSR": "High"} for d in (1, 2, 3)
    ],
}


def _open_meteo_answer(request: Request) -> Response:
    latitude = float(request.args["latitude"])
    return Response(
        json.dumps(
            {
                "latitude": round(latitude, 1),
                "longitude": float(request.args["longitude"]),
                "utc_offset_seconds": 0,
                "timezone": "GMT",
                "hourly_units": {"precipitation": "mm", "temperature_2m": "°C"},
                "hourly": {
                    "time": ["2026-07-31T09:00", "2026-07-31T10:00"],
                    "precipitation": [3.2, 4.0],
                    "temperature_2m": [28.1, 27.9],
                },
            }
        ),
        content_type="application/json",
    )


def test_hko_snapshot_lands_for_public_and_an_unchanged_answer_lands_nothing(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    answers = {"warnsum": WARNSUM, "fnd": FND}
    calls: list[str] = []

    def hko(request: Request) -> Response:
        calls.append(request.args["dataType"])
        if calls.count(request.args["dataType"]) == 1 and request.args["dataType"] == "fnd":
            return Response("gateway", status=502)  # the first forecast request fails
        return Response(
            json.dumps(answers[request.args["dataType"]]), content_type="application/json"
        )

    httpserver.expect_request("/weatherAPI/opendata/weather.php").respond_with_handler(hko)
    resource = HkoResource(base_url=httpserver.url_for("/weatherAPI/opendata/weather.php"), **FAST)

    for entity, served in ((hko_warning_summary, 2), (hko_forecasts, 3)):
        result = _materialize(tmp_path, entity, "hko_api", resource)
        assert result.success
        assert _landed_metadata(result, entity)["rows_landed"] == served
        assert _query(
            tmp_path, f"select tenant_id, count(*) from raw.{entity.table} group by 1"
        ) == [("public", served)]
    assert calls == ["warnsum", "fnd", "fnd"]

    # the same answer again: same file name and bytes, skipped by the ledger
    again = _materialize(tmp_path, hko_warning_summary, "hko_api", resource)
    assert again.success
    meta = _landed_metadata(again, hko_warning_summary)
    assert (meta["rows_landed"], meta["files_skipped_already_landed"]) == (0, 1)
    folder = tmp_path / "landing" / "public" / "weather" / "hko_warning_summary"
    assert len(list(folder.glob("hko_warnsum_*.json"))) == 1

    # the signal is cancelled: a new snapshot, landed as a new file
    answers["warnsum"] = {
        "WTCSGNL": {
            **WARNSUM["WTCSGNL"],
            "actionCode": "CANCEL",
            "updateTime": "2026-07-31T16:20:00+08:00",
        }
    }
    changed = _materialize(tmp_path, hko_warning_summary, "hko_api", resource)
    assert _landed_metadata(changed, hko_warning_summary)["rows_landed"] == 1
    assert _query(
        tmp_path,
        "select actionCode, count(*) from raw.weather__hko_warning_summary group by 1 order by 1",
    ) == [("CANCEL", 1), ("ISSUE", 2)]


def test_open_meteo_snapshot_of_configured_ports_lands_once(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/v1/forecast").respond_with_handler(_open_meteo_answer)
    resource = OpenMeteoResource(
        base_url=httpserver.url_for("/v1/forecast"), ports="HKHKG, SGSIN", **FAST
    )
    first = _materialize(tmp_path, open_meteo_forecasts, "open_meteo_api", resource)
    assert first.success
    assert _query(
        tmp_path,
        "select tenant_id, location_id, count(*) from raw.weather__open_meteo_forecasts "
        "group by all order by 2",
    ) == [("public", "HKHKG", 2), ("public", "SGSIN", 2)]
    # the request carried the seed's coordinates of each port and the hourly variables
    asked = [dict(request.args) for request, _ in httpserver.log]
    assert [a["hourly"] for a in asked] == [
        "temperature_2m,precipitation,wind_speed_10m,wind_gusts_10m"
    ] * 2
    assert 22 < float(asked[0]["latitude"]) < 23 and 1 < float(asked[1]["latitude"]) < 2

    again = _materialize(tmp_path, open_meteo_forecasts, "open_meteo_api", resource)
    assert _landed_metadata(again, open_meteo_forecasts)["rows_landed"] == 0
    assert _query(tmp_path, "select count(*) from raw.weather__open_meteo_forecasts") == [(4,)]


def test_public_feed_refuses_a_tenant_other_than_public(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    resource = OpenMeteoResource(
        base_url=httpserver.url_for("/v1/forecast"), tenants=TENANT, ports="HKHKG"
    )
    result = _materialize(tmp_path, open_meteo_forecasts, "open_meteo_api", resource)
    assert not result.success
    assert "public feed" in str(result.get_step_failure_events()[0].event_specific_data.error)
    assert not list(tmp_path.rglob("*.json"))


# -- certifications REST feed -----------------------------------------------------------------


def _certificate(n: int, updated: str) -> dict:
    return {
        "certificateId": f"CERT-{n:03d}",
        "certificateType": "BSCI",
        "holderSite": f"F{n % 3:02d}",
        "holderName": f"Factory {n % 3}",
        "scope": "Cut and sew",
        "issuer": "amfori",
        "validFrom": "2025-01-01",
        "validTo": "2026-12-31",
        "status": "active",
        "updatedAt": updated,
    }


class CertificationsApi:
    """``GET /<tenant>/certificates?page=&pageSize=[&updatedSince=]`` →
    ``{"items", "page", "nextPage"}``, ``updatedSince`` inclusive."""

    def __init__(self, records: list[dict], fail_first: int = 0):
        self.records = records
        self.fail_first = fail_first
        self.requests: list[dict] = []
        self.served: list[dict] = []

    def __call__(self, request: Request) -> Response:
        args = dict(request.args)
        self.requests.append(args)
        if self.fail_first:
            self.fail_first -= 1
            return Response("maintenance", status=503)
        since = args.get("updatedSince")
        matching = [
            r
            for r in sorted(self.records, key=lambda r: r["updatedAt"])
            if since is None
            or datetime.fromisoformat(r["updatedAt"]) >= datetime.fromisoformat(since)
        ]
        page, size = int(args["page"]), int(args["pageSize"])
        items = matching[(page - 1) * size : page * size]
        self.served.extend(items)
        more = page * size < len(matching)
        return Response(
            json.dumps({"items": items, "page": page, "nextPage": page + 1 if more else None}),
            content_type="application/json",
        )


def test_certifications_feed_paged_landed_and_pulled_incrementally(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    records = [_certificate(n, f"2026-01-{10 + n:02d}T08:00:00Z") for n in range(1, 6)]
    api = CertificationsApi(records, fail_first=1)
    httpserver.expect_request("/acme-apparel/certificates").respond_with_handler(api)
    resource = CertificationsApiResource(
        base_url=httpserver.url_for("/{tenant}"), tenants=TENANT, page_size=2, **FAST
    )
    first = _materialize(tmp_path, certificates, "certifications_api", resource)
    assert first.success
    assert [r.get("page") for r in api.requests] == ["1", "1", "2", "3"]
    assert all("updatedSince" not in r for r in api.requests)
    assert _query(
        tmp_path, "select tenant_id, count(*) from raw.certifications__certificates group by 1"
    ) == [(TENANT, len(api.served))]
    assert len(api.served) == 5
    assert _cursor(tmp_path, "certifications", "certificates", TENANT) == "2026-01-15T08:00:00Z"

    # one certificate is re-issued later; the next pull asks from the cursor on
    records.append({**_certificate(2, "2026-02-01T09:30:00Z"), "status": "suspended"})
    api.requests.clear()
    api.served.clear()
    second = _materialize(tmp_path, certificates, "certifications_api", resource)
    assert second.success
    assert api.requests == [{"page": "1", "pageSize": "2", "updatedSince": "2026-01-15T08:00:00Z"}]
    meta = _landed_metadata(second, certificates)
    assert (meta["rows_read"], meta["rows_landed"], meta["rows_duplicate"]) == (2, 1, 1)
    assert _query(tmp_path, "select count(*) from raw.certifications__certificates") == [(6,)]
    assert _cursor(tmp_path, "certifications", "certificates", TENANT) == "2026-02-01T09:30:00Z"


def test_certifications_page_without_items_fails_the_pull_check_and_lands_nothing(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/audits").respond_with_json({"results": []})
    resource = CertificationsApiResource(base_url=httpserver.url_for("/"), tenants=TENANT, **FAST)
    result = _materialize(tmp_path, audits, "certifications_api", resource)
    assert result.success
    check = _pull_check(result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["failed_tenants"].value == TENANT
    failure = check.metadata["pull_failures"].value[TENANT]
    assert failure["failure_class"] == "protocol"
    assert "no 'items' list" in failure["error"]
    assert _cursor(tmp_path, "certifications", "audits", TENANT) is None
    assert _query(tmp_path, "select status from audit.connector_runs") == [("pull_failed",)]
    assert _landed_metadata(result, audits)["rows_landed"] == 0
    assert _query(tmp_path, "select count(*) from raw.certifications__audits") == [(0,)]
    assert not list((tmp_path / "landing").rglob("*.jsonl"))


def test_one_tenants_malformed_answer_does_not_stop_the_other_tenant_or_the_drops(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    """Tenant A answers well; tenant B answers its records under the wrong member. B's pull
    fails its check (protocol), B's answer lands nothing and B's cursor stays put, while A's
    records, A's cursor and B's drop file all land in the same run."""
    other = "borealis-appliances"
    good = [_certificate(n, f"2026-01-{10 + n:02d}T08:00:00Z") for n in range(1, 4)]
    httpserver.expect_request(f"/{TENANT}/certificates").respond_with_handler(
        CertificationsApi(good)
    )
    wrong = [_certificate(n, "2026-01-20T08:00:00Z") for n in range(50, 53)]
    httpserver.expect_request(f"/{other}/certificates").respond_with_json(
        {"results": wrong, "page": 1, "nextPage": None}
    )
    dropped = {**_certificate(90, "2026-01-05T08:00:00Z"), "holderName": "Dropped by hand"}
    drop_folder = tmp_path / "landing" / other / "certifications" / "certificates"
    drop_folder.mkdir(parents=True)
    (drop_folder / "certificates_export.jsonl").write_text(json.dumps(dropped) + "\n")
    resource = CertificationsApiResource(
        base_url=httpserver.url_for("/{tenant}"), tenants=f"{TENANT},{other}", **FAST
    )

    result = _materialize(tmp_path, certificates, "certifications_api", resource)
    assert result.success
    check = _pull_check(result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["tenants_pulled"].value == 1
    assert check.metadata["failed_tenants"].value == other
    failures = check.metadata["pull_failures"].value
    assert list(failures) == [other]
    assert failures[other]["failure_class"] == "protocol"
    assert "no 'items' list" in failures[other]["error"]
    landed = _query(
        tmp_path,
        'select tenant_id, "certificateId" from raw.certifications__certificates order by 1, 2',
    )
    assert landed == [(TENANT, f"CERT-{n:03d}") for n in range(1, 4)] + [(other, "CERT-090")]
    assert _cursor(tmp_path, "certifications", "certificates", TENANT) == "2026-01-13T08:00:00Z"
    assert _cursor(tmp_path, "certifications", "certificates", other) is None
    runs = dict(_query(tmp_path, "select tenant_id, status from audit.connector_runs"))
    assert runs == {TENANT: "landed", other: "pull_failed"}
    assert _query(tmp_path, "select count(*) from audit.quarantine") == [(0,)]


def test_open_meteo_answer_that_is_not_an_object_fails_the_pull_check_and_lands_nothing(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/v1/forecast").respond_with_json([{"hourly": {}}])
    resource = OpenMeteoResource(base_url=httpserver.url_for("/v1/forecast"), ports="HKHKG", **FAST)
    result = _materialize(tmp_path, open_meteo_forecasts, "open_meteo_api", resource)
    assert result.success
    check = _pull_check(result)
    assert (check.passed, check.metadata["failed_tenants"].value) == (False, "public")
    failure = check.metadata["pull_failures"].value["public"]
    assert failure["failure_class"] == "protocol" and "not an object" in failure["error"]
    assert _landed_metadata(result, open_meteo_forecasts)["rows_landed"] == 0
    assert not list((tmp_path / "landing").rglob("*.json"))
    assert _query(tmp_path, "select status from audit.connector_runs") == [("pull_failed",)]


@pytest.mark.parametrize(
    "error",
    [
        CertificationsPullError,
        DcsaPullError,
        HrPullError,
        ODataProtocolError,
        WeatherApiError,
        WmsPullError,
    ],
)
def test_each_connectors_answer_error_is_a_source_protocol_error(error: type) -> None:
    assert issubclass(error, SourceProtocolError) and issubclass(error, RuntimeError)
    assert error("bad answer").error_class == "protocol"
    assert str(error("bad answer")) == "bad answer"


def test_a_literal_error_and_a_request_failure_are_not_protocol_errors() -> None:
    # A bad /Date()/ literal is one record's problem (kept and quarantined), not the answer's.
    assert not issubclass(ODataLiteralError, SourceProtocolError)
    assert not issubclass(SourceRequestError, SourceProtocolError)
    assert SourceProtocolError("x", error_class="other").error_class == "other"
