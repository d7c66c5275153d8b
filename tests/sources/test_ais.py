"""The AIS source and the maritime models: the real NMEA sample decoded with pyais and landed
(two-fragment type 5 with name, destination and ETA; the sentence without a checksum
quarantined with its reason), fragment edge cases, the demo world's AIS feed against its answer
key, and after a real dbt build: ETA staging, vessel matching on spelling variants with the
match rate, and the port congestion index on a tiny known MarDep fixture."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pyais.encode import encode_dict

from traceloom_pipelines.dbt_targets import run_dbt
from traceloom_pipelines.demo import generate_world
from traceloom_pipelines.demo.ais import ais_files
from traceloom_pipelines.demo.clock import to_ms
from traceloom_pipelines.demo.weather import write_files
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect, ensure_tables, run
from traceloom_pipelines.reference.ports import port_coordinates
from traceloom_pipelines.sources.ais.connector import iter_ais_records
from traceloom_pipelines.sources.ais.contract import messages
from traceloom_pipelines.sources.edi.contract import ENTITIES as EDI_ENTITIES
from traceloom_pipelines.sources.logistics.contract import ENTITIES as LOGISTICS_ENTITIES
from traceloom_pipelines.sources.port.contract import ENTITIES as PORT_ENTITIES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REAL_SAMPLE = PROJECT_ROOT / "data" / "samples" / "ais" / "ais_sentences.nmea"

# The published sample (from pyais's tests), kept here so the tests run where shared/ is absent.
SAMPLE_TEXT = (
    REAL_SAMPLE.read_text(encoding="ascii")
    if REAL_SAMPLE.exists()
    else "!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C\n"
    "!AIVDM,1,1,,A,35NSH95001G?wopE`beasVk@0E5:,0*6F\n"
    "!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C\n"
    "!AIVDM,2,2,1,A,88888888880,2*25\n"
    "!AIVDM,2,1,4,A,55O0W7`00001L@gCWGA2uItLth@DqtL5@F22220j1h742t0Ht0000000,0*08\n"
    "!AIVDM,2,2,4,A,000000000000000,2*20\n"
    "\\g:1-2-73874,n:157036,s:r003669945,c:12415440354*A\\"
    "!AIVDM,1,1,,B,15N4cJ005Jrek0H@9nDW5608EP,013\n"
)
SAMPLE_LINES = SAMPLE_TEXT.splitlines()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")
    return path


def _records(path: Path) -> list[tuple[int, dict]]:
    return [(n, json.loads(text)) for n, text in iter_ais_records(path)]


def _query(data_dir: Path, sql: str, params: object = None) -> list[tuple]:
    con = connect(data_dir, read_only=True)
    try:
        return run(con, sql, params)
    finally:
        con.close()


# -- the real sample ------------------------------------------------------------------------------


def test_real_sample_two_fragment_type_5_is_decoded(tmp_path: Path) -> None:
    records = _records(_write(tmp_path / "s.nmea", SAMPLE_TEXT))
    assert [(n, r["msg_type"], r.get("mmsi"), r["error"]) for n, r in records] == [
        (1, 1, 366053209, None),
        (2, 3, 367581220, None),
        (3, 5, 351759000, None),
        (5, 5, 368060190, None),
        (7, None, None, "checksum"),
    ]
    static = records[2][1]
    assert {k: static[k] for k in static if k not in ("sentences",)} == {
        "error": None,
        "msg_type": 5,
        "mmsi": 351759000,
        "imo_number": 9134270,
        "call_sign": "3FOF8",
        "ship_name": "EVER DIADEM",
        "ship_type": 70,
        "destination": "NEW YORK",
        "eta_month": 5,
        "eta_day": 15,
        "eta_hour": 14,
        "eta_minute": 0,
        "draught_m": 12.2,
        "fragment_count": 2,
    }
    assert static["sentences"].splitlines() == SAMPLE_LINES[2:4]
    position = records[0][1]
    assert (position["latitude"], position["longitude"], position["sog_knots"]) == (
        37.802118,
        -122.341618,
        0.0,
    )
    assert (position["cog_degrees"], position["heading_degrees"], position["utc_second"]) == (
        219.3,
        1,
        59,
    )


def test_real_sample_lands_and_the_bad_sentence_is_quarantined(tmp_path: Path) -> None:
    _write(tmp_path / "landing" / "public" / "ais" / "messages" / "sample.nmea", SAMPLE_TEXT)
    con = connect(tmp_path)
    try:
        total = land_entity(con, messages, tmp_path / "landing").total
    finally:
        con.close()
    assert (total.rows_read, total.rows_landed, total.rows_quarantined) == (5, 4, 1)
    assert _query(
        tmp_path,
        "select msg_type, mmsi, ship_name, destination, eta_month, eta_day, eta_hour, draught_m "
        "from raw.ais__messages where msg_type = 5 order by mmsi",
    ) == [
        (5, 351759000, "EVER DIADEM", "NEW YORK", 5, 15, 14, 12.2),
        (5, 368060190, "P/V_GOLDEN_GATE", None, 0, 0, 24, 0.0),
    ]
    ((row, reason, record),) = _query(
        tmp_path, "select source_row, reason, record from audit.quarantine"
    )
    assert (row, reason) == (7, "error:valid_checksum; mmsi:not_nullable; msg_type:not_nullable")
    kept = json.loads(record)
    assert (kept["error_detail"], kept["sentences"]) == ("no checksum", SAMPLE_LINES[6])


def test_fragments_out_of_order_orphans_and_noise(tmp_path: Path) -> None:
    first, second = SAMPLE_LINES[2], SAMPLE_LINES[3]
    wrong_checksum = SAMPLE_LINES[0][:-2] + "5D"
    text = "\n".join(
        [
            second,  # fragment 2 before fragment 1: still one message
            "",
            first,
            "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
            wrong_checksum,
            SAMPLE_LINES[4],  # first fragment whose second never comes
        ]
    )
    records = _records(_write(tmp_path / "edge.nmea", text))
    assert [(n, r["error"], r.get("ship_name")) for n, r in records] == [
        (1, None, "EVER DIADEM"),
        (4, "not_ais", None),
        (5, "checksum", None),
        (6, "missing_fragment", None),
    ]
    assert records[2][1]["error_detail"] == "checksum mismatch"
    assert records[3][1]["error_detail"] == "1 of 2 fragments"


# -- the demo world's AIS feed --------------------------------------------------------------------

AS_OF = datetime(2026, 7, 31, tzinfo=UTC)
FLEET = [
    {
        "name": "MAERSK KOWLOON",
        "imo": "9777122",
        "mmsi": "219018765",
        "call_sign": "OXKW2",
        "voyages": [
            {
                "voyage": "101E",
                "port_calls": [
                    {
                        "port": "HKHKG",
                        "planned_arrival": "2026-07-20T06:00:00Z",
                        "actual_arrival": "2026-07-20T09:30:00Z",
                        "actual_departure": "2026-07-21T09:30:00Z",
                    },
                    {
                        "port": "SGSIN",
                        "planned_arrival": "2026-07-25T06:00:00Z",
                        "actual_arrival": "2026-07-25T08:00:00Z",
                        "actual_departure": "2026-07-26T08:00:00Z",
                    },
                ],
            }
        ],
    },
    {"name": "MSC ANNA", "imo": "9833413", "mmsi": "636019825", "call_sign": "D5QK7"},
    {"name": "EVER GRACE", "imo": "9811029", "mmsi": "563157400", "call_sign": "9V7342"},
]


def test_demo_ais_feed_lands_as_its_answer_key_says(tmp_path: Path) -> None:
    files, key = ais_files(7, to_ms(AS_OF), FLEET, port_coordinates())
    assert ais_files(7, to_ms(AS_OF), FLEET, port_coordinates())[0] == files  # deterministic
    write_files(tmp_path / "landing", files, ())
    con = connect(tmp_path)
    try:
        total = land_entity(con, messages, tmp_path / "landing").total
    finally:
        con.close()
    assert total.rows_landed == key["messages_landed"]
    assert total.rows_quarantined == len(key["quarantined"]) == 2
    got = _query(
        tmp_path,
        "select source_file, source_row, list_filter(failed_checks, lambda x: x like 'error:%')[1] "
        "from audit.quarantine order by 1, 2",
    )
    assert got == [(q["source_file"], q["source_row"], q["check"]) for q in key["quarantined"]]
    assert _query(tmp_path, "select count(*) from raw.ais__messages where msg_type = 5") == [
        (key["static_reports"],)
    ]
    assert key["defects"]["fragments_reversed"]
    # Maersk Kowloon announced Hong Kong with its planned ETA two days before arriving
    assert _query(
        tmp_path,
        "select ship_name, destination, eta_month, eta_day, eta_hour, received_at "
        "from raw.ais__messages where mmsi = 219018765 and destination = 'HKHKG'",
    ) == [("MAERSK KOWLOON", "HKHKG", 7, 20, 6, datetime(2026, 7, 18, 9, 30))]


# -- dbt: staging, vessel matching, congestion -----------------------------------------------------


def _dbt(tmp_path: Path, data_dir: Path, *args: str) -> str:
    done = run_dbt(data_dir, list(args), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
    return done.stdout


def _static_sentences(mmsi: int, name: str, at: datetime, eta: tuple[int, int, int, int]) -> str:
    month, day, hour, minute = eta
    sentences = encode_dict(
        {
            "type": 5,
            "mmsi": mmsi,
            "imo": 9000000 + mmsi % 1000,
            "callsign": f"C{mmsi % 10000}",
            "shipname": name,
            "destination": "HKHKG",
            "month": month,
            "day": day,
            "hour": hour,
            "minute": minute,
            "draught": 11.0,
        },
        talker_id="AI",
        sentence_type="VDM",
        seq_id=mmsi % 10,
    )
    stamp = int(at.timestamp())
    return "\n".join(f"\\c:{stamp}*00\\{s}" for s in sentences)


AIS_VESSELS = [
    (353136000, "EVER GIVEN", datetime(2026, 7, 30, tzinfo=UTC), (8, 3, 14, 30)),
    (219018765, "MAERSK KOWLOON", datetime(2026, 12, 28, tzinfo=UTC), (1, 2, 6, 0)),
    (228339600, "CMA CGM MARCO POLO", datetime(2026, 7, 30, tzinfo=UTC), (0, 0, 24, 60)),
    (111111111, "SEA STAR", datetime(2026, 7, 30, tzinfo=UTC), (8, 1, 0, 0)),
    (222222222, "SEA-STAR", datetime(2026, 7, 30, tzinfo=UTC), (8, 1, 0, 0)),
]

SHIPMENTS = [
    ("t1", "M/V Ever Given", "V001"),
    ("t1", "EVER  GIVEN", "V002"),
    ("t1", "EVERGIVEN", "V003"),
    ("t1", "MAERSK KOWLOON", "V010"),
    ("t1", "CMA CGM MARCO POLLO", "V020"),
    ("t1", "Sea Star", "V030"),
    ("t1", "PACIFIC DREAM", "V040"),
    ("t2", "ever given", "X1"),
]


def _mardep(root: str, rows: list[dict[str, str]]) -> str:
    body = "".join(
        "<G_SQL1>" + "".join(f"<{k}>{v}</{k}>" for k, v in row.items()) + "</G_SQL1>"
        for row in rows
    )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>{body}</{root}>\n'


def _vessel(call_sign: str, **times: str) -> dict[str, str]:
    return {"CALL_SIGN": call_sign, "VESSEL_NAME": f"SHIP {call_sign}", **times}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """AIS static reports and a tiny MarDep world (tenant `public`), landed and built by dbt."""
    data_dir = tmp_path_factory.mktemp("maritime")
    root = data_dir / "landing" / "public"
    _write(
        root / "ais" / "messages" / "static.nmea",
        "\n".join(_static_sentences(*v) for v in AIS_VESSELS) + "\n",
    )
    port = root / "port"
    _write(
        port / "vessels_arrived" / "arrived.xml",
        _mardep(
            "RP05005IXML",
            [
                _vessel("A1", ARRIVAL_TIME="2025/08/20 06:00"),
                _vessel("A2", ARRIVAL_TIME="2025/08/20 08:00"),
                _vessel("A3", ARRIVAL_TIME="20-AUG-2025 09:00"),
                _vessel("A4", ARRIVAL_TIME="2025/08/21 10:00"),
            ],
        ),
    )
    _write(
        port / "vessels_departed" / "departed.xml",
        _mardep(
            "RP05505IXML",
            [
                _vessel("A1", ATD_TIME="2025/08/21 06:00"),
                _vessel("A2", ATD_TIME="2025/08/21 20:00"),
                _vessel("A3", ATD_TIME="2025/08/22 09:00"),
            ],
        ),
    )
    _write(
        port / "vessel_expected_arrivals" / "expected.xml",
        _mardep(
            "RP04005IXML",
            [_vessel(f"E{i}", ETA=f"2025/08/22 {10 + i:02d}:00") for i in range(1, 7)],
        ),
    )
    con = connect(data_dir)
    try:
        for entity in (messages, *PORT_ENTITIES):
            land_entity(con, entity, data_dir / "landing")
        run(con, "create schema if not exists fixture")
        run(
            con,
            "create table fixture.shipments "
            "(tenant_id varchar, vessel_name varchar, voyage varchar)",
        )
        con.executemany("insert into fixture.shipments values (?, ?, ?)", SHIPMENTS)
    finally:
        con.close()
    _dbt(
        tmp_path_factory.mktemp("dbt"),
        data_dir,
        "build",
        "--select",
        "+stg_ais__static_reports +fct_port_congestion",
        # tests of models outside the selection (weather's link to reference.ports) stay out
        "--indirect-selection",
        "cautious",
    )
    return data_dir


@pytest.mark.slow
def test_static_reports_get_a_dated_eta(built: Path) -> None:
    assert _query(
        built,
        "select mmsi, vessel_match_key, eta_at from staging.stg_ais__static_reports "
        "where mmsi in (353136000, 219018765, 228339600) order by mmsi",
    ) == [
        (219018765, "MAERSKKOWLOON", datetime(2027, 1, 2, 6, 0)),  # across the new year
        (228339600, "CMACGMMARCOPOLO", None),  # ETA not available
        (353136000, "EVERGIVEN", datetime(2026, 8, 3, 14, 30)),
    ]


@pytest.mark.slow
def test_vessel_matching_on_spelling_variants(built: Path, tmp_path: Path) -> None:
    def compiled(sql: str) -> str:
        out = _dbt(tmp_path, built, "compile", "--inline", sql, "--output", "json", "--quiet")
        return json.loads(out[out.index("{") :])["compiled"]

    matches_sql = compiled(
        "{{ vessel_ais_matches('fixture.shipments', ref('stg_ais__static_reports')) }}"
    )
    rate_sql = compiled("{{ vessel_ais_match_rate('fixture.matches') }}")
    con = connect(built)
    try:
        con.sql(f"create or replace table fixture.matches as {matches_sql}")
        got = run(
            con,
            "select tenant_id, shipment_vessel_name, voyage, mmsi, match_method "
            "from fixture.matches order by tenant_id, voyage",
        )
        rates = run(con, f"select * from ({rate_sql}) order by tenant_id")
    finally:
        con.close()
    assert got == [
        ("t1", "M/V Ever Given", "V001", 353136000, "normalized"),
        ("t1", "EVER  GIVEN", "V002", 353136000, "normalized"),
        ("t1", "EVERGIVEN", "V003", 353136000, "normalized"),
        ("t1", "MAERSK KOWLOON", "V010", 219018765, "exact"),
        ("t1", "CMA CGM MARCO POLLO", "V020", 228339600, "fuzzy"),
        ("t1", "Sea Star", "V030", None, None),  # two AIS vessels answer to it: ambiguous
        ("t1", "PACIFIC DREAM", "V040", None, None),  # not in AIS
        ("t2", "ever given", "X1", 353136000, "normalized"),
    ]
    # t1 names five distinct vessels (the three Ever Given spellings are one), three matched
    assert rates == [("t1", 5, 3, 0.6), ("t2", 1, 1, 1.0)]


@pytest.mark.slow
def test_congestion_index_on_a_tiny_known_fixture(built: Path) -> None:
    assert _query(
        built,
        "select activity_date, vessel_calls, departures, departure_capacity, avg_hours_in_port, "
        "queue_ratio, dwell_ratio, congestion_index, is_congested, port_name, weather_zone "
        "from marts.fct_port_congestion where tenant_id = 'public' order by activity_date",
    ) == [
        # no departure yet: capacity taken from the next covered day (2/day); no stay measured
        (date(2025, 8, 20), 3, 0, 2.0, None, 1.5, None, 1.5, True, "Hong Kong", "hk"),
        # A1 stayed 24 h, A2 36 h: dwell 30/24; one call over capacity 2
        (date(2025, 8, 21), 1, 2, 2.0, 30.0, 0.5, 1.25, 0.875, False, "Hong Kong", "hk"),
        # six ETAs over capacity (2 + 1) / 2; A3 stayed 48 h
        (date(2025, 8, 22), 6, 1, 1.5, 48.0, 4.0, 2.0, 3.0, True, "Hong Kong", "hk"),
    ]


@pytest.mark.slow
def test_demo_world_vessels_match_ais_despite_carrier_spellings(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The demo world's carrier feeds spell some vessels differently from AIS (answer key
    ``vessels[].name_in_carrier_feed``); every shipment vessel still finds its MMSI."""
    data_dir = tmp_path_factory.mktemp("demo_matching")
    key = generate_world(
        data_dir / "landing", data_dir / "key.json", seed=7, scale=0.01, as_of=AS_OF
    )
    con = connect(data_dir)
    try:
        for entity in (messages, *LOGISTICS_ENTITIES):
            land_entity(con, entity, data_dir / "landing")
        for entity in EDI_ENTITIES:  # the milestones also union 856 ship notices: empty here
            ensure_tables(con, entity)
    finally:
        con.close()
    _dbt(
        tmp_path_factory.mktemp("dbt"),
        data_dir,
        "build",
        "--select",
        "+rpt_vessel_ais_match_rate",
        "--indirect-selection",
        "cautious",
    )
    expected = sorted(
        {(v["tenant_id"], v["name_in_carrier_feed"], int(v["mmsi"])) for v in key["vessels"]}
    )
    got = _query(
        data_dir,
        "select distinct tenant_id, shipment_vessel_name, mmsi "
        "from intermediate.int_vessel_ais_matches order by all",
    )
    assert [row for row in got if row[1] in {e[1] for e in expected}] == expected
    assert any(name != v["name"] for v in key["vessels"] for name in [v["name_in_carrier_feed"]])
    assert _query(
        data_dir, "select tenant_id, match_rate from marts.rpt_vessel_ais_match_rate order by 1"
    ) == [(tenant, 1.0) for tenant in sorted({v["tenant_id"] for v in key["vessels"]})]


def test_every_reader_error_has_its_contract_check() -> None:
    from traceloom_pipelines.sources.ais.connector import ERROR_CODES
    from traceloom_pipelines.sources.ais.contract import ERROR_CHECKS

    assert set(ERROR_CHECKS) == set(ERROR_CODES)
    assert [c.name for c in messages.schema.columns["error"].checks] == list(ERROR_CHECKS.values())
