"""Issue #12, input that does not fit the contract: it is quarantined or reported, never dropped.

CSV surplus values and unknown columns, control characters, over-long fields, a cut-off JSON
array, custom readers that decode strictly, files still being appended (only complete records
are read), a cut-off DCSA page, a CSV header naming a column twice. Every test lands into a real
lake (tmp dir) and checks what is in ``raw`` and ``audit.quarantine`` and that every row read is
accounted for.
"""

import hashlib
import json
import os
import time
from pathlib import Path

import pandera.polars as pa
import pytest

from tests.landing.test_loader import PO
from traceloom_pipelines.landing.assets import landing_metadata
from traceloom_pipelines.landing.checks import JSON, MAX_LENGTH, field
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.loader import (
    DEFAULT_SETTLE_SECONDS,
    FILE_DUPLICATE_HEADER,
    SETTLE_SECONDS_ENV,
    LandingResult,
    land_entity,
    settle_seconds_from_env,
)
from traceloom_pipelines.landing.readers import complete_records_end, iter_json_array_prefix
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.sources.ais.connector import iter_ais_records
from traceloom_pipelines.sources.erp.contract import materials, purchase_orders
from traceloom_pipelines.sources.hr.contract import employees
from traceloom_pipelines.sources.logistics.connector import iter_dcsa_event_records
from traceloom_pipelines.sources.logistics.contract import dcsa_events
from traceloom_pipelines.sources.port.connector import (
    iter_container_throughput_records,
    iter_mardep_vessel_records,
)
from traceloom_pipelines.sources.weather.connector import iter_hko_forecast_records
from traceloom_pipelines.sources.weather.contract import hko_warning_summary


@pytest.fixture
def con(tmp_path):
    connection = connect(tmp_path)
    yield connection
    connection.close()


def _write(root: Path, tenant: str, system: str, entity: str, name: str, content: str | bytes):
    folder = root / "landing" / tenant / system / entity
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _quarantine(con) -> dict[tuple[str, int], list[str]]:
    rows = run(con, "select source_file, source_row, failed_checks from audit.quarantine")
    return {(f.rsplit("/", 1)[-1], r): checks for f, r, checks in rows}


def _batches(con) -> list[tuple[str, int, int, int, int]]:
    rows = run(
        con,
        "select source_file, rows_read, rows_landed, rows_quarantined, rows_duplicate "
        "from audit.batches order by source_file, started_at",
    )
    return [(f.rsplit("/", 1)[-1], *counts) for f, *counts in rows]


def _assert_balanced(con, result: LandingResult) -> None:
    """read = landed + quarantined + duplicates, per batch, in total, and against the lake."""
    total = result.total
    assert total.balanced
    for _, read, landed, quarantined, duplicate in _batches(con):
        assert read == landed + quarantined + duplicate
    in_quarantine = run(con, "select count(*) from audit.quarantine")[0][0]
    assert in_quarantine == sum(q for _, _, _, q, _ in _batches(con))


MATERIAL = {
    "material_id": "MAT-1",
    "part_number": "P-1",
    "part_name": "Door Panel",
    "standard_cost": "12.50",
    "currency": "USD",
    "is_active": "true",
    "safety_stock_quantity": "100",
}


# -- 1. CSV: surplus values are quarantined, unknown columns reported -------------------------


def test_csv_surplus_values_are_quarantined_and_unknown_columns_reported(tmp_path, con):
    header = [*MATERIAL, "colour_code", "notes"]
    rows = [
        [*MATERIAL.values(), "NVY", "ok"],
        # two values more than the header: quarantined, the surplus kept in the record
        ["MAT-2", "P-2", "Hinge", "3.10", "USD", "true", "5", "RED", "fine", "surplus", "more"],
        ["MAT-3", "P-3", "Bolt"],  # fewer values: the missing columns are null
    ]
    text = "\r\n".join(",".join(row) for row in [header, *rows]) + "\r\n"
    _write(tmp_path, "acme", "erp", "materials", "a.csv", text)
    plain = ",".join(MATERIAL) + "\n" + ",".join(["MAT-4", *list(MATERIAL.values())[1:]]) + "\n"
    _write(tmp_path, "acme", "erp", "materials", "b.csv", plain)
    lines: list[str] = []

    result = land_entity(con, materials, tmp_path / "landing", log=lines.append)

    assert _quarantine(con) == {("a.csv", 2): ["_record:extra_values"]}
    (record,) = run(con, "select record from audit.quarantine")[0]
    assert json.loads(record)["_extra_columns"] == ["surplus", "more"]
    assert run(con, "select material_id, part_name from raw.erp__materials order by 1") == [
        ("MAT-1", "Door Panel"),
        ("MAT-3", "Bolt"),
        ("MAT-4", "Door Panel"),
    ]
    assert _batches(con) == [("a.csv", 3, 2, 1, 0), ("b.csv", 1, 1, 0, 0)]
    assert result.total.reasons == {"_record:extra_values": 1}
    _assert_balanced(con, result)
    # columns the contract does not read: not an error per row, reported per file
    assert result.unknown_columns == {"acme/erp/materials/a.csv": ("colour_code", "notes")}
    assert any("a.csv: columns not in the contract" in line for line in lines)
    table = landing_metadata(result, 3)["unknown_columns"].value
    assert "| acme/erp/materials/a.csv | colour_code, notes |" in table


# -- 2. control characters (NUL) --------------------------------------------------------------


def test_nul_and_control_characters_are_quarantined_per_field(tmp_path, con):
    skill = {"skill_code": "SEW", "skill_name": "Sewing", "proficiency_level": 3}
    good = {"employee_id": "E-1", "first_name": "Ann", "skills": [skill]}
    page = {
        "employees": [
            good,
            dict(good, employee_id="E\u00002"),  # the operator's case: an escaped \u0000
            dict(good, employee_id="E-3", job_title="Lead\x1b[1m"),  # ESC
            dict(good, employee_id="E-4", skills=[dict(skill, skill_name="Sew\u0000ing")]),
            dict(good, employee_id="E-5", job_title="Line lead\tshift A\r\nnight"),  # allowed
        ]
    }
    _write(tmp_path, "acme", "hr", "employees", "p1.json", json.dumps(page))

    result = land_entity(con, employees, tmp_path / "landing")

    assert _quarantine(con) == {
        ("p1.json", 2): ["employee_id:no_control_characters"],
        ("p1.json", 3): ["job_title:no_control_characters"],
        ("p1.json", 4): ["skills[].skill_name:no_control_characters"],
    }
    assert run(con, "select employee_id, job_title from raw.hr__employees order by 1") == [
        ("E-1", None),
        ("E-5", "Line lead\tshift A\r\nnight"),
    ]
    assert run(con, "select count(*) from raw.hr__employee_skills") == [(2,)]
    assert run(
        con, "select count(*) from raw.hr__employees where contains(employee_id, chr(0))"
    ) == [(0,)]
    assert _batches(con) == [("p1.json", 5, 2, 3, 0)]
    _assert_balanced(con, result)


def test_control_characters_escaped_inside_a_json_field_are_quarantined(tmp_path, con):
    nul_port = dict(PO, revision=2, routeTemplate=dict(PO["routeTemplate"], ports=["HK\u0000G"]))
    # an escaped backslash followed by "u0000" is six characters of text, not NUL: it lands
    backslash = dict(PO, revision=3, routeTemplate=dict(PO["routeTemplate"], ports=["a\\u0000"]))
    lines = [json.dumps(r) for r in (PO, nul_port, backslash)]
    _write(tmp_path, "acme", "erp", "purchase_orders", "a.jsonl", "\n".join(lines) + "\n")

    result = land_entity(con, purchase_orders, tmp_path / "landing")

    assert _quarantine(con) == {("a.jsonl", 2): ["routeTemplate_ports:no_control_characters"]}
    landed = run(
        con, 'select revision, "routeTemplate_ports" from raw.erp__purchase_orders order by 1'
    )
    assert landed == [(1, '["HKHKG","SEGOT"]'), (3, '["a\\\\u0000"]')]
    assert _batches(con) == [("a.jsonl", 3, 2, 1, 0)]
    _assert_balanced(con, result)


# -- 3. field length --------------------------------------------------------------------------


def test_over_long_fields_are_quarantined(tmp_path, con):
    records = [
        dict(MATERIAL, material_id="MAT-1", description="x" * MAX_LENGTH),  # at the limit
        dict(MATERIAL, material_id="MAT-2", description="x" * (MAX_LENGTH + 1)),
        dict(MATERIAL, material_id="MAT-3", part_name="y" * 2**20),  # the operator's 1 MB string
        dict(MATERIAL, material_id="MAT-4", standard_cost="0" * 5000 + "1"),  # a number, too
    ]
    _write(tmp_path, "acme", "erp", "materials", "m.json", json.dumps({"materials": records}))

    result = land_entity(con, materials, tmp_path / "landing")

    assert _quarantine(con) == {
        ("m.json", 2): ["description:max_length"],
        ("m.json", 3): ["part_name:max_length"],
        ("m.json", 4): ["standard_cost:max_length"],
    }
    assert run(con, "select material_id, length(description) from raw.erp__materials") == [
        ("MAT-1", MAX_LENGTH)
    ]
    # the quarantined record keeps the whole text
    assert run(con, "select max(length(record)) > 2 * 1024 * 1024 / 2 from audit.quarantine") == [
        (True,)
    ]
    _assert_balanced(con, result)


def test_a_contract_can_allow_longer_text_and_json_fields_default_to_more(tmp_path, con):
    notes = SourceEntity(
        system="test",
        entity="notes",
        seed_ref="issue #12",
        schema=pa.DataFrameSchema(
            {
                "note_id": field("$.note_id", required=True),
                "body": field("$.body", max_length=10_000),
                "tags": field("$.tags", JSON),
            },
            name="test.notes",
        ),
    )
    records = [
        {"note_id": "N-1", "body": "b" * 10_000, "tags": ["t" * 1000] * 20},  # JSON ≈ 20 KB
        {"note_id": "N-2", "body": "b" * 10_001},
        {"note_id": "N-3", "tags": ["t" * 70_000]},
    ]
    _write(tmp_path, "acme", "test", "notes", "n.jsonl", "\n".join(json.dumps(r) for r in records))

    result = land_entity(con, notes, tmp_path / "landing")

    assert _quarantine(con) == {
        ("n.jsonl", 2): ["body:max_length"],
        ("n.jsonl", 3): ["tags:max_length"],
    }
    assert run(con, "select note_id, length(body) from raw.test__notes") == [("N-1", 10_000)]
    _assert_balanced(con, result)


# -- 4. a JSON array cut off mid-way ----------------------------------------------------------


def test_a_truncated_json_array_lands_its_complete_records(tmp_path, con):
    complete = json.dumps([PO, dict(PO, revision=2), dict(PO, revision=3)], indent=2)
    cut = complete.index('"revision": 3') + 5  # inside the third record
    path = _write(tmp_path, "acme", "erp", "purchase_orders", "a.json", complete[:cut])
    tail = complete[:cut][complete[:cut].rindex("},") + 2 :].lstrip()  # the third record, cut
    assert tail.startswith("{") and tail.endswith('"revi')

    result = land_entity(con, purchase_orders, tmp_path / "landing")

    assert run(con, "select revision from raw.erp__purchase_orders order by 1") == [(1,), (2,)]
    assert run(con, "select count(*) from raw.erp__purchase_order_lines") == [(4,)]
    quarantined = run(con, "select source_row, failed_checks, record from audit.quarantine")
    assert quarantined == [(3, ["_record:valid_json"], tail)]
    assert _batches(con) == [("a.json", 3, 2, 1, 0)]
    _assert_balanced(con, result)

    # replay: the same file again changes nothing
    state = (
        run(con, "select * exclude (_ingested_at) from raw.erp__purchase_orders order by all"),
        run(con, "select * from audit.quarantine order by all"),
        run(con, "select * from audit.batches order by all"),
    )
    replay = land_entity(con, purchase_orders, tmp_path / "landing")
    assert replay.files_skipped == ["acme/erp/purchase_orders/a.json"]
    assert (replay.total.rows_read, replay.files_ingested) == (0, [])
    assert state == (
        run(con, "select * exclude (_ingested_at) from raw.erp__purchase_orders order by all"),
        run(con, "select * from audit.quarantine order by all"),
        run(con, "select * from audit.batches order by all"),
    )

    # the sender re-delivers the whole file: the first two are duplicates, the third lands
    path.write_text(complete)
    again = land_entity(con, purchase_orders, tmp_path / "landing")
    t = again.total
    assert (t.rows_read, t.rows_landed, t.rows_quarantined, t.rows_duplicate) == (3, 1, 0, 2)
    assert t.balanced
    assert run(con, "select revision from raw.erp__purchase_orders order by 1") == [
        (1,),
        (2,),
        (3,),
    ]


def test_a_cut_off_envelope_array_keeps_the_pages_before_the_cut(tmp_path, con):
    page_1 = {"materials": [dict(MATERIAL, material_id="MAT-1"), dict(MATERIAL, material_id="M2")]}
    page_2 = {"materials": [dict(MATERIAL, material_id="MAT-3")]}
    text = json.dumps([page_1, page_2])[:-20]  # page 2 is cut off
    _write(tmp_path, "acme", "erp", "materials", "m.json", text)

    result = land_entity(con, materials, tmp_path / "landing")

    assert run(con, "select material_id, _source_row from raw.erp__materials order by 2") == [
        ("MAT-1", 1),
        ("M2", 2),
    ]
    assert _quarantine(con) == {("m.json", 3): ["_record:valid_json"]}
    (record,) = run(con, "select record from audit.quarantine")[0]
    assert record == text[len(json.dumps([page_1])[:-1]) + 2 :]  # page 2 as far as it goes
    assert record.startswith('{"materials": [{"material_id": "MAT-3"')
    _assert_balanced(con, result)


@pytest.mark.parametrize(
    ("text", "records"),
    [
        ('[{"a": 1}, {"a": 2}, {"a": 3, "b"', ['{"a":1}', '{"a":2}', '{"a": 3, "b"']),
        ('[{"a": 1}, {"a": 2}', ['{"a":1}', '{"a":2}', ""]),  # no closing bracket
        ('[{"a": 1},\n', ['{"a":1}', ""]),
        ('[{"a": 1}, {bad}, {"a": 3}]', ['{"a":1}', '{bad}, {"a": 3}]']),  # the rest, whole
        ('[{"a": 1},]', ['{"a":1}', "]"]),
        ('[{"a": 1}] trailing', ['{"a":1}', "trailing"]),
        ("[] x", ["x"]),
        ('  {"a": 1', ['  {"a": 1']),  # not an array: the whole text
        ("", [""]),
    ],
)
def test_json_array_prefix(text, records):
    assert list(iter_json_array_prefix(text)) == records


# -- 5. custom readers decode strictly --------------------------------------------------------

NOT_UTF8 = "café".encode("latin-1")


@pytest.mark.parametrize(
    ("reader", "name", "content"),
    [
        (iter_dcsa_event_records, "e.json", b'[{"eventID": "' + NOT_UTF8 + b'"}]'),
        (iter_dcsa_event_records, "e.jsonl", b'{"eventID": "1"}\n{"x": "' + NOT_UTF8 + b'"}\n'),
        (iter_container_throughput_records, "c.csv", b"Year,Month\n2025," + NOT_UTF8 + b"\n"),
        (iter_mardep_vessel_records, "v.xml", b"<RP04005IXML><G_SQL1>" + NOT_UTF8),
        (iter_hko_forecast_records, "f.json", b'{"generalSituation": "' + NOT_UTF8 + b'"}'),
        (
            iter_ais_records,
            "a.nmea",
            b"!AIVDM,1,1,,A,13u?etPv2;0n:dDPwUM1U1Cb069D,0*24 " + NOT_UTF8,
        ),
    ],
)
def test_custom_readers_refuse_bytes_that_do_not_decode(tmp_path, reader, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnicodeDecodeError):
        list(reader(path))


def test_a_custom_format_file_that_is_not_utf8_is_quarantined_whole(tmp_path, con):
    warning = {
        "name": "Amber Rainstorm Warning Signal",
        "code": "WRAINA",
        "actionCode": "ISSUE",
        "issueTime": "2026-06-01T10:00:00+08:00",
        "updateTime": "2026-06-01T10:00:00+08:00",
    }
    _write(
        tmp_path,
        "public",
        "weather",
        "hko_warning_summary",
        "a.json",
        json.dumps({"WRAIN": warning}),
    )
    bad = json.dumps({"WRAIN": dict(warning, name="Pluie")}).encode().replace(b"Pluie", NOT_UTF8)
    _write(tmp_path, "public", "weather", "hko_warning_summary", "b.json", bad)

    result = land_entity(con, hko_warning_summary, tmp_path / "landing")

    assert run(con, "select code, name from raw.weather__hko_warning_summary") == [
        ("WRAINA", "Amber Rainstorm Warning Signal")
    ]
    assert _quarantine(con) == {("b.json", 0): ["_file:encoding"]}
    (reason,) = run(con, "select reason from audit.quarantine")[0]
    assert "UnicodeDecodeError" in reason
    # no replacement character landed anywhere
    assert run(con, "select count(*) from audit.quarantine where contains(record, '\ufffd')") == [
        (0,)
    ]
    assert _batches(con) == [("a.json", 1, 1, 0, 0), ("b.json", 1, 0, 1, 0)]
    _assert_balanced(con, result)


# -- 6. a file still being written: only its complete records are read ------------------------


def _po_line(revision: int) -> str:
    return json.dumps(dict(PO, revision=revision))


def _age(path: Path, seconds: float) -> None:
    """Set ``path``'s modification time ``seconds`` into the past."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_partial_last_line_waits_while_the_file_grows_and_lands_once_complete(tmp_path, con):
    landing = tmp_path / "landing"
    third = _po_line(3)
    head = f"{_po_line(1)}\n{_po_line(2)}\n"
    path = _write(tmp_path, "acme", "erp", "purchase_orders", "a.jsonl", head + third[:40])

    first = land_entity(con, purchase_orders, landing, settle_seconds=60)

    assert run(con, "select revision from raw.erp__purchase_orders order by 1") == [(1,), (2,)]
    assert run(con, "select count(*) from audit.quarantine") == [(0,)]
    assert first.files_waiting == ["acme/erp/purchase_orders/a.jsonl"]
    # the batch is what was read: its bytes and their sha256, not the unterminated tail
    assert run(con, "select file_bytes, file_sha256 from audit.batches") == [
        (len(head), hashlib.sha256(head.encode()).hexdigest())
    ]
    assert _batches(con) == [("a.jsonl", 2, 2, 0, 0)]

    # nothing new yet: the complete part is already landed
    same = land_entity(con, purchase_orders, landing, settle_seconds=60)
    assert (same.files_skipped, same.total.rows_read) == (["acme/erp/purchase_orders/a.jsonl"], 0)

    # the writer finishes the line: the file is read again, the record lands exactly once
    with path.open("a", encoding="utf-8") as handle:
        handle.write(third[40:] + "\n")
    done = land_entity(con, purchase_orders, landing, settle_seconds=60)
    t = done.total
    assert (t.rows_read, t.rows_landed, t.rows_quarantined, t.rows_duplicate) == (3, 1, 0, 2)
    assert done.files_waiting == []
    assert run(con, "select revision from raw.erp__purchase_orders order by 1") == [
        (1,),
        (2,),
        (3,),
    ]
    assert run(con, "select count(*) from audit.quarantine") == [(0,)]
    _assert_balanced(con, done)
    replay = land_entity(con, purchase_orders, landing, settle_seconds=60)
    assert (replay.files_ingested, replay.total.rows_read) == ([], 0)


def test_an_unterminated_tail_is_read_once_the_file_has_settled(tmp_path, con):
    landing = tmp_path / "landing"
    path = _write(
        tmp_path, "acme", "erp", "purchase_orders", "a.jsonl", f'{_po_line(1)}\n{{"poId": "PO'
    )
    land_entity(con, purchase_orders, landing, settle_seconds=60)
    assert run(con, "select count(*) from audit.quarantine") == [(0,)]

    _age(path, 3600)  # the writer died: the tail will never be completed
    settled = land_entity(con, purchase_orders, landing, settle_seconds=60)

    assert settled.files_waiting == []
    assert run(con, "select source_row, failed_checks, record from audit.quarantine") == [
        (2, ["_record:valid_json"], '{"poId": "PO')
    ]
    assert run(con, "select revision from raw.erp__purchase_orders") == [(1,)]
    t = settled.total
    assert (t.rows_read, t.rows_landed, t.rows_quarantined, t.rows_duplicate) == (2, 0, 1, 1)
    # a complete last record without a line feed (common in CSV exports) lands once settled
    csv_path = _write(tmp_path, "acme", "erp", "materials", "m.csv", ",".join(MATERIAL))
    with csv_path.open("a", encoding="utf-8") as handle:
        handle.write("\n" + ",".join(MATERIAL.values()))
    assert land_entity(con, materials, landing, settle_seconds=60).files_waiting == [
        "acme/erp/materials/m.csv"
    ]
    assert run(con, "select count(*) from raw.erp__materials") == [(0,)]
    _age(csv_path, 3600)
    assert land_entity(con, materials, landing, settle_seconds=60).total.rows_landed == 1


def test_a_csv_record_inside_an_open_quoted_field_waits(tmp_path, con):
    landing = tmp_path / "landing"
    header = ",".join(MATERIAL)
    first = ",".join(MATERIAL.values())
    # the second record's part_name is quoted and spans lines: its line feed is inside quotes
    path = _write(
        tmp_path, "acme", "erp", "materials", "m.csv", f'{header}\n{first}\nMAT-2,P-2,"Door\n'
    )

    result = land_entity(con, materials, landing, settle_seconds=60)

    assert result.files_waiting == ["acme/erp/materials/m.csv"]
    assert run(con, "select material_id from raw.erp__materials") == [("MAT-1",)]
    assert run(con, "select count(*) from audit.quarantine") == [(0,)]
    with path.open("a", encoding="utf-8") as handle:
        handle.write('panel ""B""",12.50,USD,true,100\n')
    land_entity(con, materials, landing, settle_seconds=60)
    assert run(con, "select material_id, part_name from raw.erp__materials order by 1") == [
        ("MAT-1", "Door Panel"),
        ("MAT-2", 'Door\npanel "B"'),
    ]
    assert run(con, "select count(*) from audit.quarantine") == [(0,)]


def test_a_file_with_no_complete_record_yet_is_not_read(tmp_path, con):
    landing = tmp_path / "landing"
    path = _write(tmp_path, "acme", "erp", "purchase_orders", "a.jsonl", _po_line(1)[:30])
    waiting = land_entity(con, purchase_orders, landing, settle_seconds=60)
    assert (waiting.files_ingested, waiting.files_waiting) == (
        [],
        ["acme/erp/purchase_orders/a.jsonl"],
    )
    assert run(con, "select count(*) from audit.batches") == [(0,)]
    # settle_seconds=0 (direct calls' default): every file is read whole, as before
    path.write_text(_po_line(1))
    assert land_entity(con, purchase_orders, landing).total.rows_landed == 1


def test_a_custom_readers_growing_file_waits_whole(tmp_path, con):
    landing = tmp_path / "landing"
    events = [json.dumps(dict(DCSA_EVENT, eventID=f"E-{i}")) for i in (1, 2)]
    path = _write(
        tmp_path, "acme", "logistics", "dcsa_events", "p.jsonl", events[0] + "\n" + events[1][:25]
    )
    waiting = land_entity(con, dcsa_events, landing, settle_seconds=60)
    assert (waiting.files_ingested, waiting.files_waiting) == (
        [],
        ["acme/logistics/dcsa_events/p.jsonl"],
    )
    path.write_text(events[0] + "\n" + events[1] + "\n")
    landed = land_entity(con, dcsa_events, landing, settle_seconds=60)
    assert landed.total.rows_landed == 2
    assert run(con, "select count(*) from audit.quarantine") == [(0,)]


@pytest.mark.parametrize(
    ("content", "quoted", "end"),
    [
        (b"", False, 0),
        (b"a\nb\n", False, 4),
        (b"a\nb", False, 2),
        (b"ab", False, 0),
        (b'h\n"x\ny"\n', True, 8),  # the line feed inside quotes is not a record end
        (b'h\n"x\n', True, 2),
        (b'h\n"x ""q""\nmore', True, 2),  # doubled quotes inside a field keep the count odd
        (b'h\n"x ""q"""\nmore', True, 12),
        (b"h\n" + b"x" * (3 << 20), False, 2),  # the last line feed several blocks back
    ],
)
def test_complete_records_end(tmp_path, content, quoted, end):
    path = tmp_path / ("f.csv" if quoted else "f.jsonl")
    path.write_bytes(content)
    assert complete_records_end(path, quoted=quoted) == end


def test_settle_seconds_from_the_environment(monkeypatch):
    monkeypatch.delenv(SETTLE_SECONDS_ENV, raising=False)
    assert settle_seconds_from_env() == DEFAULT_SETTLE_SECONDS == 5.0
    monkeypatch.setenv(SETTLE_SECONDS_ENV, "0.5")
    assert settle_seconds_from_env() == 0.5
    monkeypatch.setenv(SETTLE_SECONDS_ENV, "-1")
    with pytest.raises(ValueError, match=SETTLE_SECONDS_ENV):
        settle_seconds_from_env()


# -- 7. a DCSA page cut off mid-way keeps its complete events ---------------------------------

# A DCSA gate-in event (as in tests/sources/test_logistics.py), with the carrier's lower-case
# classifier code: the reader normalises it before the contract's checks.
DCSA_EVENT = {
    "eventID": "E-1",
    "eventType": "EQUIPMENT",
    "eventClassifierCode": "act",
    "eventDateTime": "2026-02-01T07:40:00+08:00",
    "eventCreatedDateTime": "2026-02-01T00:05:00Z",
    "equipmentEventTypeCode": "GTIN",
    "equipmentReference": "MSKU9070323",
    "emptyIndicatorCode": "LADEN",
    "eventLocation": {"UNLocationCode": "CNYTN"},
}


@pytest.mark.parametrize("wrapped", [False, True], ids=["page", "wrapped_page"])
def test_a_cut_off_dcsa_page_lands_its_complete_events(tmp_path, con, wrapped):
    events = [dict(DCSA_EVENT, eventID=f"E-{i}") for i in (1, 2, 3)]
    complete = json.dumps({"events": events} if wrapped else events, indent=1)
    text = complete[: complete.index('"E-3"') + 3]  # inside the third event
    tail = text[text.rindex("},") + 2 :].lstrip()
    assert tail.startswith("{") and tail.endswith('"E-')
    path = _write(tmp_path, "acme", "logistics", "dcsa_events", "p.json", text)

    records = list(iter_dcsa_event_records(path))
    assert [(n, json.loads(t)["eventID"]) for n, t in records[:2]] == [(1, "E-1"), (2, "E-2")]
    assert records[2] == (3, tail)

    result = land_entity(con, dcsa_events, tmp_path / "landing")

    landed = run(
        con, 'select "eventID", "eventClassifierCode" from raw.logistics__dcsa_events order by 1'
    )
    assert landed == [("E-1", "ACT"), ("E-2", "ACT")]  # normalised as usual
    assert run(con, "select source_row, failed_checks, record from audit.quarantine") == [
        (3, ["_record:valid_json"], tail)
    ]
    assert _batches(con) == [("p.json", 3, 2, 1, 0)]
    _assert_balanced(con, result)


def test_a_dcsa_file_that_is_not_a_page_is_still_one_record(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"eventID": "E-1", "eventType": "EQ')
    assert list(iter_dcsa_event_records(path)) == [(1, '{"eventID": "E-1", "eventType": "EQ')]


# -- 8. a CSV header naming a column twice ----------------------------------------------------


def test_a_csv_with_a_duplicated_header_column_is_quarantined_whole(tmp_path, con):
    header = [*MATERIAL, "part_name", "currency"]  # two columns named twice
    row = [*MATERIAL.values(), "Hinge", "EUR"]
    text = ",".join(header) + "\n" + ",".join(row) + "\n" + ",".join(row) + "\n"
    _write(tmp_path, "acme", "erp", "materials", "a.csv", text)
    plain = ",".join(MATERIAL) + "\n" + ",".join(MATERIAL.values()) + "\n"
    _write(tmp_path, "acme", "erp", "materials", "b.csv", plain)

    result = land_entity(con, materials, tmp_path / "landing")

    assert _quarantine(con) == {("a.csv", 0): [FILE_DUPLICATE_HEADER]}
    (reason, record) = run(con, "select reason, record from audit.quarantine")[0]
    assert reason.startswith("_file:duplicate_header: DuplicateHeaderError: ")
    assert "'part_name', 'currency'" in reason
    assert json.loads(record)["_file"] == "acme/erp/materials/a.csv"
    assert run(con, "select material_id, part_name from raw.erp__materials") == [
        ("MAT-1", "Door Panel")
    ]
    assert _batches(con) == [("a.csv", 1, 0, 1, 0), ("b.csv", 1, 1, 0, 0)]
    assert result.unknown_columns == {}
    _assert_balanced(con, result)
    # not read again until it changes
    assert land_entity(con, materials, tmp_path / "landing").files_ingested == []
