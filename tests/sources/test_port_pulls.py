"""The port and maritime feeds pulled over HTTP: MarDep vessel XML, DATA.GOV.HK statistics CSVs
and AIS NMEA lines. Real HTTP on loopback (pytest-httpserver) serving the REAL published sample
files, the real pull resources, the real ingestion assets (``dagster.materialize``) and a real
DuckDB file, compared with what the drop route lands for the same files."""

from __future__ import annotations

import json
from datetime import datetime
from functools import reduce
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from traceloom_pipelines.integration.breaker import reset_breakers
from traceloom_pipelines.landing.assets import PULL_CHECK, build_ingestion_asset
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.sources.ais.connector import (
    AIS_RESOURCE_KEY,
    AisHttpResource,
    ais_from_env,
)
from traceloom_pipelines.sources.ais.contract import messages
from traceloom_pipelines.sources.port.connector import (
    MARDEP_RESOURCE_KEY,
    PORT_STATS_RESOURCE_KEY,
    SAMPLE_FILES,
    MarDepResource,
    PortStatisticsResource,
    mardep_from_env,
    port_statistics_from_env,
)
from traceloom_pipelines.sources.port.contract import ENTITIES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = PROJECT_ROOT / "data" / "samples" / "port"
AIS_REAL_SAMPLE = PROJECT_ROOT / "data" / "samples" / "ais" / "ais_sentences.nmea"
ENTITY_BY_NAME = {entity.entity: entity for entity in ENTITIES}
FILE_BY_ENTITY = {entity: name for name, entity in SAMPLE_FILES.items()}
SOURCES = ("mardep", "port_stats", "ais")
FAST = dict(timeout_s=2.0, max_attempts=3, backoff_initial_s=0.01, backoff_max_s=0.02)
# Columns that name the file or the run, not the record: they differ between the two routes.
PER_FILE_COLUMNS = ("_source_file", "_batch_id", "_ingested_at")

# (entity, served path, resource key, rows the drop route lands for the published sample)
FEEDS = [
    ("vessel_expected_arrivals", "/opendata/RP04005i.XML", MARDEP_RESOURCE_KEY, 185),
    ("vessels_arrived", "/opendata/RP05005i.XML", MARDEP_RESOURCE_KEY, 85),
    ("vessels_departed", "/opendata/RP05505i.XML", MARDEP_RESOURCE_KEY, 72),
    ("vessels_in_port", "/opendata/RP06005i.XML", MARDEP_RESOURCE_KEY, 69),
    ("cargo_throughput", "/stats/port_cargo_stats_table1_eng.csv", PORT_STATS_RESOURCE_KEY, 63),
    (
        "container_throughput",
        "/stats/mardep_container_throughput_by_mode_EN.csv",
        PORT_STATS_RESOURCE_KEY,
        67,
    ),
]


@pytest.fixture(autouse=True)
def _closed_breakers():
    for source in SOURCES:
        reset_breakers(source)
    yield
    for source in SOURCES:
        reset_breakers(source)


def _resource(httpserver: HTTPServer, key: str, **kwargs):
    if key == MARDEP_RESOURCE_KEY:
        return MarDepResource(base_url=httpserver.url_for("/opendata/"), **FAST, **kwargs)
    return PortStatisticsResource(base_url=httpserver.url_for("/stats"), **FAST, **kwargs)


def _materialize(data_dir: Path, entity, key: str, resource) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_ingestion_asset(entity, puller=key)],
        resources={"warehouse": WarehouseResource(data_dir=str(data_dir)), key: resource},
        raise_on_error=False,
    )


def _pull_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == PULL_CHECK]
    return evaluation


def _metadata(result: dg.ExecuteInProcessResult, entity) -> dict:
    (materialization,) = result.asset_materializations_for_node(f"land_{entity.table}")
    return {k: v.value for k, v in materialization.metadata.items()}


def _query(data_dir: Path, sql: str, params: object = None) -> list[tuple]:
    con = connect(data_dir, read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _records(data_dir: Path, entity) -> list[tuple]:
    """Every landed row of ``entity`` without the per-file columns, in source order."""
    return _query(
        data_dir,
        f"select * exclude ({', '.join(PER_FILE_COLUMNS)}) from raw.{entity.table} "
        "order by _source_row",
    )


def _drop_route(data_dir: Path, entity, name: str, body: bytes) -> None:
    """Land ``body`` the way a dropped file lands (copied into the drop folder)."""
    target = data_dir / "landing" / "public" / entity.system / entity.entity / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    con = connect(data_dir)
    try:
        land_entity(con, entity, data_dir / "landing")
    finally:
        con.close()


# -- MarDep XML and DATA.GOV.HK CSV ---------------------------------------------------------


@pytest.mark.parametrize(("entity_name", "path", "key", "expected"), FEEDS)
def test_pulled_feed_lands_exactly_what_the_drop_route_lands(
    httpserver: HTTPServer, tmp_path: Path, entity_name: str, path: str, key: str, expected: int
) -> None:
    entity = ENTITY_BY_NAME[entity_name]
    published = (SAMPLES / FILE_BY_ENTITY[entity_name]).read_bytes()
    httpserver.expect_request(path).respond_with_data(published, content_type="application/xml")

    pulled_dir, dropped_dir = tmp_path / "pulled", tmp_path / "dropped"
    result = _materialize(pulled_dir, entity, key, _resource(httpserver, key))
    assert result.success
    meta = _metadata(result, entity)
    assert (meta["rows_landed"], meta["rows_quarantined"]) == (expected, 0)
    assert meta["pull_files_written"] == 1

    # The document is written as served: the feed's own suffix, the same bytes (BOM, CRLF).
    (written,) = (pulled_dir / "landing" / "public" / "port" / entity_name).iterdir()
    assert written.suffix == entity.file_suffixes[0]
    assert written.read_bytes() == published

    _drop_route(dropped_dir, entity, FILE_BY_ENTITY[entity_name], published)
    pulled = _records(pulled_dir, entity)
    assert len(pulled) == expected
    assert pulled == _records(dropped_dir, entity)
    assert {row[0] for row in pulled} == {"public"}


def test_an_identical_answer_lands_nothing_and_a_changed_one_lands(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    entity = ENTITY_BY_NAME["vessels_in_port"]
    published = (SAMPLES / FILE_BY_ENTITY["vessels_in_port"]).read_bytes()
    answers = [published, published]
    # The next snapshot: one vessel has left (its <G_SQL1> removed).
    start = published.index(b"<G_SQL1>")
    answers.append(published[:start] + published[published.index(b"</G_SQL1>") + 9 :])
    for body in answers:
        httpserver.expect_ordered_request("/opendata/RP06005i.XML").respond_with_data(body)
    resource = _resource(httpserver, MARDEP_RESOURCE_KEY)

    first = _materialize(tmp_path, entity, MARDEP_RESOURCE_KEY, resource)
    assert _metadata(first, entity)["rows_landed"] == 69
    again = _materialize(tmp_path, entity, MARDEP_RESOURCE_KEY, resource)
    assert again.success
    meta = _metadata(again, entity)
    assert (meta["rows_landed"], meta["files_skipped_already_landed"]) == (0, 1)
    folder = tmp_path / "landing" / "public" / "port" / "vessels_in_port"
    assert len(list(folder.glob("RP06005i_*.xml"))) == 1
    assert _query(tmp_path, "select count(*) from raw.port__vessels_in_port") == [(69,)]

    changed = _materialize(tmp_path, entity, MARDEP_RESOURCE_KEY, resource)
    meta = _metadata(changed, entity)
    # 68 records, all identical to ones already landed: deduplicated, nothing lost or doubled.
    assert (meta["rows_read"], meta["rows_landed"]) == (68, 0)
    assert len(list(folder.glob("RP06005i_*.xml"))) == 2
    assert _query(tmp_path, "select count(*) from raw.port__vessels_in_port") == [(69,)]
    assert len(httpserver.log) == 3


def test_a_503_then_success_is_retried_and_lands(httpserver: HTTPServer, tmp_path: Path) -> None:
    entity = ENTITY_BY_NAME["cargo_throughput"]
    published = (SAMPLES / FILE_BY_ENTITY["cargo_throughput"]).read_bytes()
    path = "/stats/port_cargo_stats_table1_eng.csv"
    httpserver.expect_ordered_request(path).respond_with_data("busy", status=503)
    httpserver.expect_ordered_request(path).respond_with_data(published, content_type="text/csv")

    result = _materialize(
        tmp_path, entity, PORT_STATS_RESOURCE_KEY, _resource(httpserver, PORT_STATS_RESOURCE_KEY)
    )
    assert result.success
    assert _pull_check(result).passed
    meta = _metadata(result, entity)
    assert (meta["pull_requests"], meta["pull_retries"], meta["pull_dead_letters"]) == (2, 1, 0)
    assert meta["rows_landed"] == 63
    assert _query(tmp_path, "select status, retries from audit.connector_runs") == [("landed", 1)]


def test_a_feed_that_stays_down_fails_the_pull_check_and_writes_nothing(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    entity = ENTITY_BY_NAME["vessels_arrived"]
    httpserver.expect_request("/opendata/RP05005i.XML").respond_with_data("down", status=503)
    result = _materialize(
        tmp_path, entity, MARDEP_RESOURCE_KEY, _resource(httpserver, MARDEP_RESOURCE_KEY)
    )
    # Not a step failure (downstream steps still run): the pull check fails instead.
    assert result.success
    check = _pull_check(result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["failed_tenants"].value == "public"
    failure = check.metadata["pull_failures"].value["public"]
    assert failure["failure_class"] == "server_error" and "503" in failure["error"]
    assert _metadata(result, entity)["rows_landed"] == 0
    assert not list((tmp_path / "landing").rglob("*.xml"))
    assert _query(
        tmp_path, "select source, entity, tenant_id, status, attempts from audit.dead_letters"
    ) == [("mardep", "vessels_arrived", "public", 503, 3)]
    assert _query(tmp_path, "select status from audit.connector_runs") == [("pull_failed",)]
    assert _query(tmp_path, "select count(*) from audit.connector_state") == [(0,)]


def test_a_disabled_pull_lands_drop_files_and_its_pull_check_says_so(tmp_path: Path) -> None:
    entity = ENTITY_BY_NAME["cargo_throughput"]
    drop = tmp_path / "landing" / "public" / entity.system / entity.entity
    drop.mkdir(parents=True)
    (drop / FILE_BY_ENTITY["cargo_throughput"]).write_bytes(
        (SAMPLES / FILE_BY_ENTITY["cargo_throughput"]).read_bytes()
    )
    resource = PortStatisticsResource(base_url="")
    result = _materialize(tmp_path, entity, PORT_STATS_RESOURCE_KEY, resource)
    assert result.success and _metadata(result, entity)["rows_landed"] == 63
    check = _pull_check(result)
    assert check.passed
    assert "drop files only" in check.metadata["mode"].value


def test_a_port_feed_refuses_a_tenant_other_than_public(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    entity = ENTITY_BY_NAME["vessels_departed"]
    resource = _resource(httpserver, MARDEP_RESOURCE_KEY, tenants="acme-apparel")
    result = _materialize(tmp_path, entity, MARDEP_RESOURCE_KEY, resource)
    assert not result.success
    assert "public feed" in str(result.get_step_failure_events()[0].event_specific_data.error)
    assert httpserver.log == []


def test_unset_environment_leaves_drops_only_and_set_paths_are_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("TRACELOOM_MARDEP_URL", "TRACELOOM_PORT_STATS_URL", "TRACELOOM_AIS_URL"):
        monkeypatch.delenv(variable, raising=False)
    assert not mardep_from_env().enabled
    assert not port_statistics_from_env().enabled
    assert not ais_from_env().enabled

    monkeypatch.setenv("TRACELOOM_MARDEP_URL", "https://example.invalid/opendata/")
    monkeypatch.setenv("TRACELOOM_MARDEP_IN_PORT_PATH", "RP06005i_v2.XML")
    monkeypatch.setenv("TRACELOOM_PORT_STATS_URL", "https://example.invalid/stats")
    monkeypatch.setenv("TRACELOOM_PORT_STATS_CARGO_PATH", "https://other.invalid/cargo.csv")
    monkeypatch.setenv("TRACELOOM_AIS_URL", "https://example.invalid/ais")
    monkeypatch.setenv("TRACELOOM_AIS_SINCE_PARAM", "from")
    defs = {"mardep": mardep_from_env(), "stats": port_statistics_from_env(), "ais": ais_from_env()}
    with dg.build_resources(defs) as built:  # resolves the EnvVars as a run does
        mardep, stats, ais = built.mardep, built.stats, built.ais
    assert mardep.enabled and mardep.tenant_ids() == ["public"]
    assert mardep.feed_path("vessels_in_port") == "RP06005i_v2.XML"
    assert mardep.feed_path("vessels_arrived") == "RP05005i.XML"
    assert stats.feed_path("cargo_throughput") == "https://other.invalid/cargo.csv"
    assert (ais.enabled, ais.since_param) == (True, "from")


# -- AIS NMEA over HTTP -----------------------------------------------------------------------

AIS_SAMPLE = AIS_REAL_SAMPLE.read_text(encoding="ascii") if AIS_REAL_SAMPLE.exists() else ""


def _tagged(line: str, unix_seconds: int, station: str = "hk01") -> str:
    """``line`` behind an IEC 62320 tag block with receiver time ``c:`` and a valid checksum."""
    tag = f"s:{station},c:{unix_seconds}"
    checksum = reduce(lambda acc, ch: acc ^ ord(ch), tag, 0)
    return f"\\{tag}*{checksum:02X}\\{line}"


@pytest.fixture
def ais_sample() -> str:
    if not AIS_SAMPLE:
        pytest.skip("the published AIS sample is not available")
    return AIS_SAMPLE


def test_ais_lines_over_http_land_like_the_drop_file(
    httpserver: HTTPServer, tmp_path: Path, ais_sample: str
) -> None:
    httpserver.expect_request("/ais/sentences").respond_with_data(
        ais_sample, content_type="text/plain"
    )
    resource = AisHttpResource(base_url=httpserver.url_for("/ais"), path="sentences", **FAST)
    pulled_dir, dropped_dir = tmp_path / "pulled", tmp_path / "dropped"
    result = _materialize(pulled_dir, messages, AIS_RESOURCE_KEY, resource)
    assert result.success
    meta = _metadata(result, messages)
    assert (meta["rows_read"], meta["rows_landed"], meta["rows_quarantined"]) == (5, 4, 1)
    (written,) = (pulled_dir / "landing" / "public" / "ais" / "messages").glob("ais_*.nmea")
    assert written.read_text(encoding="ascii") == ais_sample

    # the two-fragment type 5 messages are joined and decoded
    assert _query(
        pulled_dir,
        "select mmsi, ship_name, destination, fragment_count from raw.ais__messages "
        "where msg_type = 5 order by mmsi",
    ) == [(351759000, "EVER DIADEM", "NEW YORK", 2), (368060190, "P/V_GOLDEN_GATE", None, 2)]
    # the sentence without a checksum is quarantined with its reason
    ((row, reason, record),) = _query(
        pulled_dir, "select source_row, reason, record from audit.quarantine"
    )
    assert (row, reason) == (7, "error:valid_checksum; mmsi:not_nullable; msg_type:not_nullable")
    assert json.loads(record)["error_detail"] == "no checksum"

    _drop_route(dropped_dir, messages, "sample.nmea", ais_sample.encode("ascii"))
    assert _records(pulled_dir, messages) == _records(dropped_dir, messages)
    # no tag-block receiver time in the sample: no cursor, none sent
    assert _query(pulled_dir, "select count(*) from audit.connector_state") == [(0,)]


def test_ais_since_cursor_is_the_latest_received_time(
    httpserver: HTTPServer, tmp_path: Path, ais_sample: str
) -> None:
    lines = [line for line in ais_sample.splitlines() if line.startswith("!AIVDM")]
    first = "\n".join([_tagged(lines[0], 1_770_000_000), _tagged(lines[1], 1_770_000_060)])
    later = _tagged(lines[0], 1_770_000_600)
    asked: list[dict] = []

    def feed(request: Request) -> Response:
        asked.append(dict(request.args))
        since = request.args.get("since")
        if since is None:
            return Response(first + "\n", content_type="text/plain")
        if since == "2026-02-02T02:41:00Z":
            return Response(later + "\n", content_type="text/plain")
        return Response("", content_type="text/plain")

    httpserver.expect_request("/ais").respond_with_handler(feed)
    resource = AisHttpResource(base_url=httpserver.url_for("/ais"), **FAST)

    one = _materialize(tmp_path, messages, AIS_RESOURCE_KEY, resource)
    assert _metadata(one, messages)["rows_landed"] == 2
    assert _query(tmp_path, "select cursor from audit.connector_state") == [
        ("2026-02-02T02:41:00Z",)
    ]
    two = _materialize(tmp_path, messages, AIS_RESOURCE_KEY, resource)
    assert _metadata(two, messages)["rows_landed"] == 1
    three = _materialize(tmp_path, messages, AIS_RESOURCE_KEY, resource)
    assert three.success and _metadata(three, messages)["rows_landed"] == 0
    assert asked == [{}, {"since": "2026-02-02T02:41:00Z"}, {"since": "2026-02-02T02:50:00Z"}]
    assert _query(
        tmp_path, "select received_at, source_station from raw.ais__messages order by 1"
    ) == [
        (datetime(2026, 2, 2, 2, 40), "hk01"),
        (datetime(2026, 2, 2, 2, 41), "hk01"),
        (datetime(2026, 2, 2, 2, 50), "hk01"),
    ]
