"""The port source on the real public samples: MarDep XML and DATA.GOV.HK CSVs through the
readers, the pandera contract, quarantine and DuckDB — exact counts and known values, corrupted
copies quarantined with their reason, replay, sample installation and dbt staging."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from traceloom_pipelines.dbt_targets import run_dbt
from traceloom_pipelines.landing.loader import FILE_DUPLICATE_HEADER, LandingResult, land_entity
from traceloom_pipelines.landing.readers import DuplicateHeaderError
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.sources.port.connector import (
    SAMPLE_FILES,
    install_port_samples,
    iter_cargo_throughput_records,
    iter_container_throughput_records,
    iter_mardep_vessel_records,
)
from traceloom_pipelines.sources.port.contract import (
    ENTITIES,
    HK_LOCAL_TIME_FORMATS,
    cargo_throughput,
    container_throughput,
    parse_hk_local_time,
    vessel_expected_arrivals,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = PROJECT_ROOT / "data" / "samples" / "port"
DBT_DIR = PROJECT_ROOT / "dbt_project"
STAGING_DIR = DBT_DIR / "models" / "staging" / "port"
ENTITY_BY_NAME = {entity.entity: entity for entity in ENTITIES}
FILE_BY_ENTITY = {entity: name for name, entity in SAMPLE_FILES.items()}
XML_ENTITIES = (
    "vessel_expected_arrivals",
    "vessels_arrived",
    "vessels_departed",
    "vessels_in_port",
)


def _g_sql1_count(path: Path) -> int:
    """Vessel rows in a MarDep file, counted without an XML parser."""
    return len(re.findall(r"<G_SQL1>", path.read_text(encoding="utf-8")))


def _land_all(data_dir: Path) -> dict[str, LandingResult]:
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


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, LandingResult]]:
    """The six real samples installed under landing/public/port and landed once."""
    data_dir = tmp_path_factory.mktemp("port")
    install_port_samples(SAMPLES, data_dir / "landing")
    return data_dir, _land_all(data_dir)


# -- the real samples ---------------------------------------------------------------------------


# sha256 of the files as published: a re-save that drops the BOM, CRLF or trailing spaces fails.
SAMPLE_SHA256 = {
    "mardep_RP04005i_expected_arrivals.xml": "4aa435bbcd40af6be421c3ac7430004f",
    "mardep_RP05005i_arrived_last_36h.xml": "1a5af7a0e2890c9ee47a9a94e6a5d0fd",
    "mardep_RP05505i_departed_last_36h.xml": "a701d318f805e07a524b43b1b9468534",
    "mardep_RP06005i_vessels_in_port.xml": "0b0ce80942616719ed4a4b33cce56331",
    "port_cargo_stats_table1_eng.csv": "e5c43d08c52d3712334a10975b325fe0",
    "mardep_container_throughput_by_mode_EN.csv": "4c3f6b9709de7fc087e394280adf47fd",
}


def test_samples_are_the_published_files() -> None:
    assert set(SAMPLE_SHA256) == set(SAMPLE_FILES)
    for name, digest in SAMPLE_SHA256.items():
        assert hashlib.sha256((SAMPLES / name).read_bytes()).hexdigest()[:32] == digest, name


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        ("vessel_expected_arrivals", 185),
        ("vessels_arrived", 85),
        ("vessels_departed", 72),
        ("vessels_in_port", 69),
    ],
)
def test_every_vessel_row_is_landed_or_quarantined(
    landed: tuple[Path, dict[str, LandingResult]], entity: str, expected: int
) -> None:
    data_dir, results = landed
    counted = _g_sql1_count(SAMPLES / FILE_BY_ENTITY[entity])
    total = results[entity].total
    assert counted == expected
    assert total.rows_read == counted == total.rows_landed + total.rows_quarantined
    assert (total.rows_landed, total.rows_quarantined, total.rows_duplicate) == (expected, 0, 0)
    assert _query(data_dir, f"select count(*) from raw.port__{entity}") == [(expected,)]
    assert _query(
        data_dir,
        "select rows_read, rows_landed, rows_quarantined, rows_duplicate from audit.batches "
        "where entity = ? and tenant_id = 'public'",
        [entity],
    ) == [(expected, expected, 0, 0)]


def test_vessel_text_is_kept_as_published(landed: tuple[Path, dict[str, LandingResult]]) -> None:
    data_dir, _ = landed
    # Text lands as published: the trailing space of the vessel name is kept.
    assert _query(
        data_dir,
        'select "VESSEL_NAME", "ARRIVAL_TIME", "REMARK" from raw.port__vessels_arrived '
        "where \"CALL_SIGN\" = '3E6968'",
    ) == [("BAO QIAO 77 ", "22-AUG-2025 07:49", "Departed")]
    # A temporary MarDep id in IMO_NO lands as published; an absent IMO_NO is absent.
    assert _query(
        data_dir,
        'select "IMO_NO", "ARRIVAL_TIME", "FLAG" from raw.port__vessels_in_port '
        "where \"CALL_SIGN\" = '8800061'",
    ) == [("TEMP00167", "2024/02/03 16:56", "CHINA")]
    assert _query(
        data_dir,
        'select "IMO_NO" from raw.port__vessels_in_port where "CALL_SIGN" = \'8357\'',
    ) == [(None,)]
    assert _query(
        data_dir,
        "select count(*) from raw.port__vessels_in_port where \"IMO_NO\" like 'TEMP%'",
    ) == [(9,)]
    # &amp; is decoded by the XML parser, nowhere left encoded.
    assert _query(
        data_dir,
        'select "AGENT_NAME", "FLAG" from raw.port__vessels_in_port where "CALL_SIGN" in '
        "('VRIG9', 'V2LL') order by \"CALL_SIGN\"",
    ) == [
        ("WALLEM SHIPPING (HK) LTD", "ANTIGUA & BARBUDA"),
        ("HONGKONG SALVAGE & TOWAGE SERVICES LIMITED", "HONG KONG, CHINA"),
    ]
    for entity in XML_ENTITIES:
        assert _query(
            data_dir,
            f"select count(*) from raw.port__{entity} "
            "where concat_ws('|', \"VESSEL_NAME\", \"AGENT_NAME\") like '%&amp;%'",
        ) == [(0,)]
    # Optional elements the row does not carry are null, not blank.
    assert _query(
        data_dir,
        'select count(*) filter (where "PASI" is null), count(*) filter (where "STATUS" is null), '
        'min("ETA"), max("ETA"), min(_feed), max(_feed) from raw.port__vessel_expected_arrivals',
    ) == [(18, 12, "2025/08/22 16:20", "2025/08/29 13:00", "RP04005IXML", "RP04005IXML")]


def test_cargo_table_is_unpivoted_cell_by_cell(
    landed: tuple[Path, dict[str, LandingResult]],
) -> None:
    data_dir, results = landed
    path = SAMPLES / FILE_BY_ENTITY["cargo_throughput"]
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    years = [h for h in header if re.fullmatch(r"Port_cargo_throughput_\d{4}", h)]
    rates = [h for h in header if "average_annual_rate_of_change" in h]
    assert header[0] == "Shipment_type" and (len(rows), len(years), len(rates)) == (3, 10, 1)
    expected = len(rows) * len(years) * 2 + len(rows) * len(rates)  # 3 × 10 × 2 + 3 = 63

    total = results["cargo_throughput"].total
    assert (total.rows_read, total.rows_landed, total.rows_quarantined) == (expected, expected, 0)
    assert _query(
        data_dir,
        'select measure, count(*), count(distinct shipment_type), count("value") '
        "from raw.port__cargo_throughput group by measure order by measure",
    ) == [
        ("average_annual_rate_of_change", 3, 3, 3),
        ("percentage_distribution", 30, 3, 30),
        ("throughput_kt", 30, 3, 30),
    ]
    assert _query(
        data_dir, "select distinct shipment_type from raw.port__cargo_throughput order by 1"
    ) == [("Direct shipment cargo",), ("Overall",), ("Transhipment cargo",)]
    assert _query(
        data_dir,
        'select "year", measure, "value", source_column from raw.port__cargo_throughput '
        "where shipment_type = 'Overall' and \"year\" in ('2023', '2014-2023') order by 2",
    ) == [
        ("2014-2023", "average_annual_rate_of_change", -5.7, rates[0]),
        (
            "2023",
            "percentage_distribution",
            100.0,
            "Port_cargo_throughput_percentage_distribution_2023",
        ),
        ("2023", "throughput_kt", 174866.0, "Port_cargo_throughput_2023"),
    ]
    assert not any("\ufeff" in text for _, text in iter_cargo_throughput_records(path))


def test_container_throughput_rows(landed: tuple[Path, dict[str, LandingResult]]) -> None:
    data_dir, results = landed
    path = SAMPLES / FILE_BY_ENTITY["container_throughput"]
    assert b"\r\n" in path.read_bytes()
    data_rows = len(path.read_text(encoding="utf-8-sig").splitlines()) - 1
    total = results["container_throughput"].total
    assert (total.rows_read, total.rows_landed, total.rows_quarantined) == (data_rows, 67, 0)
    assert _query(
        data_dir,
        "select count(*) filter (where \"Month\" = 'All'), "
        "count(*) filter (where \"Month\" <> 'All') from raw.port__container_throughput",
    ) == [(14, 53)]
    # Provisional months: only the total and its change are published.
    assert _query(
        data_dir,
        'select "Month", "Seaborne ( \'000 TEUs)", "River ( \'000 TEUs)", '
        '"Total ( \'000 TEUs)", "Total (Year-on-year change %)" '
        "from raw.port__container_throughput where \"Year\" = 2025 and \"Month\" in ('Apr', 'May') "
        'order by "Month"',
    ) == [("Apr", None, None, 1179.0, 6.0), ("May", None, None, 1054.0, -12.7)]


def test_a_bom_before_the_first_column_does_not_hide_it(tmp_path: Path) -> None:
    """The container CSV has no BOM; the same rows with one land identically (same hashes)."""
    source = SAMPLES / FILE_BY_ENTITY["container_throughput"]
    for name, content in (
        ("plain.csv", source.read_bytes()),
        ("bom.csv", b"\xef\xbb\xbf" + source.read_bytes()),
    ):
        folder = tmp_path / "landing" / "public" / "port" / "container_throughput"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    con = connect(tmp_path)
    try:
        land_entity(con, container_throughput, tmp_path / "landing")
        batches = run(
            con,
            "select source_file, rows_read, rows_landed, rows_quarantined, rows_duplicate "
            "from audit.batches order by source_file",
        )
    finally:
        con.close()
    prefix = "public/port/container_throughput/"
    assert batches == [(prefix + "bom.csv", 67, 67, 0, 0), (prefix + "plain.csv", 67, 0, 0, 67)]


# -- what does not fit is quarantined, never dropped ------------------------------------------


def _drop(root: Path, entity: str, name: str, content: bytes) -> None:
    folder = root / "landing" / "public" / "port" / entity
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)


def test_corrupted_copies_are_quarantined_with_their_reason(tmp_path: Path) -> None:
    original = (SAMPLES / FILE_BY_ENTITY["vessel_expected_arrivals"]).read_bytes()
    truncated = original[: len(original) // 2]
    bad_time = original.replace(b"<ETA>2025/08/24 06:00</ETA>", b"<ETA>2025/13/45 99:99</ETA>", 1)
    no_call_sign = original.replace(b"<CALL_SIGN>3EUT9</CALL_SIGN>", b"", 1)
    assert bad_time != original and no_call_sign != original
    _drop(tmp_path, "vessel_expected_arrivals", "a_truncated.xml", truncated)
    _drop(tmp_path, "vessel_expected_arrivals", "b_bad_time.xml", bad_time)
    _drop(tmp_path, "vessel_expected_arrivals", "c_no_call_sign.xml", no_call_sign)
    # The in-port feed dropped into the expected-arrivals folder by mistake.
    in_port = (SAMPLES / FILE_BY_ENTITY["vessels_in_port"]).read_bytes()
    _drop(tmp_path, "vessel_expected_arrivals", "d_wrong_feed.xml", in_port)

    con = connect(tmp_path)
    try:
        result = land_entity(con, vessel_expected_arrivals, tmp_path / "landing")
        batches = run(
            con,
            "select source_file, rows_read, rows_landed, rows_quarantined, rows_duplicate "
            "from audit.batches order by source_file",
        )
        quarantined = run(
            con,
            "select source_file, source_row, failed_checks, record from audit.quarantine "
            "where source_file not like '%d_wrong_feed.xml' order by source_file, source_row",
        )
        wrong_feed = run(
            con,
            "select failed_checks, count(*) from audit.quarantine "
            "where source_file like '%d_wrong_feed.xml' group by all",
        )
    finally:
        con.close()

    prefix = "public/port/vessel_expected_arrivals/"
    assert batches == [
        (prefix + "a_truncated.xml", 1, 0, 1, 0),
        (prefix + "b_bad_time.xml", 185, 184, 1, 0),
        # 184 rows equal rows of b_bad_time; the row with the bad ETA is now valid.
        (prefix + "c_no_call_sign.xml", 185, 1, 1, 183),
        (prefix + "d_wrong_feed.xml", 69, 0, 69, 0),
    ]
    assert result.total.balanced
    (truncated_row, bad_time_row, no_call_sign_row) = quarantined
    assert truncated_row[:3] == (prefix + "a_truncated.xml", 1, ["_record:valid_json"])
    assert truncated_row[3] == truncated.decode("utf-8")
    assert bad_time_row[:3] == (prefix + "b_bad_time.xml", 1, ["ETA:is_hk_local_time"])
    assert json.loads(bad_time_row[3])["ETA"] == "2025/13/45 99:99"
    assert no_call_sign_row[:3] == (prefix + "c_no_call_sign.xml", 2, ["CALL_SIGN:not_nullable"])
    assert json.loads(no_call_sign_row[3])["VESSEL_NAME"] == "ANEMONA"
    assert wrong_feed == [(["ETA:not_nullable", "_feed:isin"], 69)]


def test_reader_keeps_odd_xml_visible(tmp_path: Path) -> None:
    path = tmp_path / "odd.xml"
    path.write_text(
        "<RP04005IXML><G_SQL1><CALL_SIGN>A1 </CALL_SIGN><PASI/><NOTE>x</NOTE><NOTE>y</NOTE>"
        "</G_SQL1><SUMMARY>2 rows</SUMMARY></RP04005IXML>",
        encoding="utf-8",
    )
    records = list(iter_mardep_vessel_records(path))
    assert records == [
        (1, '{"_feed":"RP04005IXML","CALL_SIGN":"A1 ","PASI":"","NOTE":["x","y"]}'),
        (2, "<SUMMARY>2 rows</SUMMARY>"),  # not a vessel row, not JSON: quarantined
    ]
    path.write_text('<!DOCTYPE r [<!ENTITY e "boom">]><r><G_SQL1>&e;</G_SQL1></r>')
    assert [row for row, _ in iter_mardep_vessel_records(path)] == [1]


def test_cargo_columns_not_understood_are_quarantined(tmp_path: Path) -> None:
    text = "\ufeffShipment_type,Port_cargo_throughput_2024,Remarks\r\nOverall,170000,prov.,9\r\n"
    _drop(tmp_path, "cargo_throughput", "cargo.csv", text.encode("utf-8"))
    con = connect(tmp_path)
    try:
        counts = land_entity(con, cargo_throughput, tmp_path / "landing").total
        reasons = run(con, "select failed_checks from audit.quarantine order by source_row")
    finally:
        con.close()
    assert (counts.rows_read, counts.rows_landed, counts.rows_quarantined) == (3, 1, 2)
    assert reasons == [
        (["measure:not_nullable", "value:is_number", "year:not_nullable"],),  # "prov."
        (["measure:not_nullable", "year:not_nullable"],),  # a cell beyond the header
    ]


# -- replay and installation -------------------------------------------------------------------


def test_replay_lands_nothing_new(tmp_path: Path) -> None:
    install_port_samples(SAMPLES, tmp_path / "landing")
    first = _land_all(tmp_path)
    rows_before = {
        e: _query(tmp_path, f"select count(*) from raw.port__{e}")[0][0] for e in ENTITY_BY_NAME
    }
    replay = _land_all(tmp_path)
    for entity in ENTITY_BY_NAME:
        assert len(first[entity].files_ingested) == 1
        assert replay[entity].files_ingested == []
        assert replay[entity].files_skipped == first[entity].files_ingested
    # The same content under another file name: every record is an exact duplicate.
    folder = tmp_path / "landing" / "public" / "port" / "vessels_in_port"
    shutil.copy(SAMPLES / FILE_BY_ENTITY["vessels_in_port"], folder / "next_pull.xml")
    again = _land_all(tmp_path)["vessels_in_port"].total
    assert (again.rows_read, again.rows_landed, again.rows_duplicate) == (69, 0, 69)
    rows_after = {
        e: _query(tmp_path, f"select count(*) from raw.port__{e}")[0][0] for e in ENTITY_BY_NAME
    }
    assert rows_after == rows_before
    assert _query(tmp_path, "select count(*) from audit.quarantine") == [(0,)]


def test_install_port_samples_is_idempotent(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    installed = install_port_samples(SAMPLES, landing)
    assert [p.relative_to(landing).as_posix() for p in installed] == [
        f"public/port/{entity}/{name}" for name, entity in SAMPLE_FILES.items()
    ]
    for path in installed:
        assert path.read_bytes() == (SAMPLES / path.name).read_bytes()
    mtimes = [p.stat().st_mtime_ns for p in installed]
    os.utime(installed[0], ns=(1_000_000_000, 1_000_000_000))  # an old, distinctive mtime
    assert install_port_samples(SAMPLES, landing) == installed
    assert installed[0].stat().st_mtime_ns == 1_000_000_000
    assert [p.stat().st_mtime_ns for p in installed[1:]] == mtimes[1:]
    installed[1].write_bytes(b"changed")
    install_port_samples(SAMPLES, landing)
    assert installed[1].read_bytes() == (SAMPLES / installed[1].name).read_bytes()
    assert sorted(p.name for p in installed[1].parent.iterdir()) == [installed[1].name]


# -- HK local time: the contract check and dbt staging agree -----------------------------------


def test_staging_parses_times_with_the_contract_formats() -> None:
    macro = (STAGING_DIR.parents[2] / "macros" / "port_text.sql").read_text()
    lists = re.findall(r"try_strptime\(\s*\{\{ column \}\},\s*\[([^\]]*)\]", macro)
    assert [re.findall(r"'([^']*)'", found) for found in lists] == [list(HK_LOCAL_TIME_FORMATS)]
    models = sorted(STAGING_DIR.glob("stg_port__vessel*.sql"))
    assert len(models) == 4
    for model in models:
        text = model.read_text()
        assert "mardep_hk_local_time(" in text and "try_strptime" not in text, model.name


def test_contract_and_duckdb_read_hk_times_alike() -> None:
    samples = [
        "2025/08/24 06:00",
        "14-DEC-2025 16:48",
        "21-aug-2025 18:47",
        "2025/08/24 06:00:30",
        "2025/8/4 6:00",
        "2025/13/45 99:99",
        "2025/02/29 10:00",
        "2025-08-24T06:00:00+08:00",
        "24/08/2025 06:00",
    ]
    ours = pl.DataFrame({"t": samples}).select(parse_hk_local_time(pl.col("t")))["t"].to_list()
    formats = "[" + ", ".join(f"'{f}'" for f in HK_LOCAL_TIME_FORMATS) + "]"
    con = duckdb.connect()
    try:
        theirs = [
            con.execute(f"select try_strptime(?, {formats})", [text]).fetchone()[0]
            for text in samples
        ]
        utc = con.execute(
            "select timezone('UTC', timezone('Asia/Hong_Kong', timestamp '2025-08-24 06:00'))"
        ).fetchone()[0]
    finally:
        con.close()
    assert ours == theirs
    assert ours[:4] == [
        datetime(2025, 8, 24, 6, 0),
        datetime(2025, 12, 14, 16, 48),
        datetime(2025, 8, 21, 18, 47),
        datetime(2025, 8, 24, 6, 0, 30),
    ]
    assert ours[5:] == [None, None, None, None]
    assert utc == datetime(2025, 8, 23, 22, 0)  # HK is UTC+8, no daylight saving


# -- dbt staging on the landed samples ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not (DBT_DIR / "dbt_project.yml").exists(), reason="no dbt project yet")
def test_dbt_staging_builds_on_the_samples(
    landed: tuple[Path, dict[str, LandingResult]], tmp_path: Path
) -> None:
    data_dir, _ = landed
    done = run_dbt(data_dir, ["build", "--select", "staging.port"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout and "WARN=0" in done.stdout

    assert _query(
        data_dir,
        "select vessel_name, vessel_name_as_published, arrived_at, has_departed "
        "from staging.stg_port__vessels_arrived where call_sign = '3E6968'",
    ) == [("BAO QIAO 77", "BAO QIAO 77 ", datetime(2025, 8, 21, 23, 49), True)]
    assert _query(
        data_dir,
        "select expected_arrival_at from staging.stg_port__vessel_expected_arrivals "
        "where call_sign = '3EAE9'",
    ) == [(datetime(2025, 8, 23, 22, 0),)]
    assert _query(
        data_dir,
        "select imo_number, is_temporary_imo, imo_no_as_published, arrived_at "
        "from staging.stg_port__vessels_in_port where call_sign in ('8800061', '8357', 'VRIG9') "
        "order by call_sign",
    ) == [
        (None, False, None, datetime(2011, 12, 28, 3, 5)),
        (None, True, "TEMP00167", datetime(2024, 2, 3, 8, 56)),
        ("9600516", False, "9600516", datetime(2025, 8, 22, 7, 51)),
    ]
    assert _query(
        data_dir,
        "select count(*) filter (where is_annual_total and month_number is null), "
        "count(*) filter (where not is_annual_total and month_number between 1 and 12), "
        "count(*) filter (where is_provisional) from staging.stg_port__container_throughput",
    ) == [(14, 53, 2)]
    assert _query(
        data_dir,
        'select period_start_year, period_end_year, unit, "value" '
        "from staging.stg_port__cargo_throughput where shipment_type = 'Overall' "
        "and measure = 'average_annual_rate_of_change'",
    ) == [(2014, 2023, "percent_per_year", -5.7)]
    assert _query(
        data_dir,
        "select count(*) from staging.stg_port__vessel_expected_arrivals "
        "where expected_arrival_at is null",
    ) == [(0,)]


# -- a header naming a column twice: the whole file is quarantined -----------------------------


@pytest.mark.parametrize(
    ("entity", "renamed", "duplicate", "reported"),
    [
        # the cargo reader matches names stripped and lower-cased: this is 2014 a second time
        (
            "cargo_throughput",
            "Port_cargo_throughput_2015",
            " port_cargo_throughput_2014",
            "Port_cargo_throughput_2014",
        ),
        # the container reader keys records by the names as published
        (
            "container_throughput",
            "River ( '000 TEUs)",
            "Seaborne ( '000 TEUs)",
            "Seaborne ( '000 TEUs)",
        ),
    ],
)
def test_a_csv_header_naming_a_column_twice_quarantines_the_file(
    tmp_path: Path, entity: str, renamed: str, duplicate: str, reported: str
) -> None:
    """The real sample with one header name changed into another's lands nothing: one
    ``_file:duplicate_header`` quarantine row, as for the shared CSV reader; the unchanged
    sample beside it lands whole."""
    original = (SAMPLES / FILE_BY_ENTITY[entity]).read_bytes()
    header, rest = original.split(b"\r\n", 1)
    names = header.decode("utf-8-sig").split(",")
    assert names.count(renamed) == 1
    names[names.index(renamed)] = duplicate
    bad = header[: len(header) - len(header.lstrip(b"\xef\xbb\xbf"))]  # keep the BOM, if any
    bad += ",".join(names).encode("utf-8") + b"\r\n" + rest
    _drop(tmp_path, entity, "a_duplicate_header.csv", bad)
    _drop(tmp_path, entity, "b_as_published.csv", original)
    folder = tmp_path / "landing" / "public" / "port" / entity
    reader = {
        "cargo_throughput": iter_cargo_throughput_records,
        "container_throughput": iter_container_throughput_records,
    }[entity]
    with pytest.raises(DuplicateHeaderError) as raised:
        next(reader(folder / "a_duplicate_header.csv"))
    assert raised.value.columns == (reported,)
    good_records = len(list(reader(folder / "b_as_published.csv")))
    assert good_records > 0

    con = connect(tmp_path)
    try:
        result = land_entity(con, ENTITY_BY_NAME[entity], tmp_path / "landing")
        batches = run(
            con,
            "select source_file, rows_read, rows_landed, rows_quarantined, rows_duplicate "
            "from audit.batches order by source_file",
        )
        quarantined = run(
            con,
            "select source_file, source_row, failed_checks, reason, record "
            "from audit.quarantine order by source_file, source_row",
        )
        landed_from = run(
            con, f"select _source_file, count(*) from raw.port__{entity} group by all order by 1"
        )
    finally:
        con.close()

    prefix = f"public/port/{entity}/"
    assert batches == [
        (prefix + "a_duplicate_header.csv", 1, 0, 1, 0),
        (prefix + "b_as_published.csv", good_records, good_records, 0, 0),
    ]
    total = result.total
    assert total.balanced
    assert total.rows_read == total.rows_landed + total.rows_quarantined + total.rows_duplicate
    assert (total.rows_read, total.rows_landed, total.rows_quarantined, total.rows_duplicate) == (
        good_records + 1,
        good_records,
        1,
        0,
    )
    [(source_file, source_row, failed_checks, reason, record)] = quarantined
    assert (source_file, source_row, failed_checks) == (
        prefix + "a_duplicate_header.csv",
        0,
        [FILE_DUPLICATE_HEADER],
    )
    assert reason.startswith(f"{FILE_DUPLICATE_HEADER}: DuplicateHeaderError: ")
    assert repr(reported) in reason
    assert json.loads(record)["file_bytes"] == len(bad)  # described, never its content
    assert landed_from == [(prefix + "b_as_published.csv", good_records)]
