"""The landing machinery on real DuckDB files: counts, quarantine reasons, children, replay."""

import json
from collections import Counter
from pathlib import Path

import pytest

from traceloom_pipelines.landing.drops import is_folder_name
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.readers import list_drop_files
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.sources.erp.contract import materials, purchase_orders
from traceloom_pipelines.sources.mes.contract import machines, production_counts

PO = {
    "poId": "PO-2026-000001",
    "revision": 1,
    "poStatus": "open",
    "updatedAt": "2026-11-01T10:00:00+08:00",
    "customer": "Nordic Outdoor AB",
    "supplier": "SUP-001",
    "factory": "FAC-DG-01",
    "product": "Merino crew sweater",
    "quantity": 1200,
    "unit": "PCS",
    "price": 18.5,
    "currency": "USD",
    "shipWindowStart": "2026-12-01",
    "shipWindowEnd": "2026-12-10",
    "requestedDeliveryDate": "2027-01-05",
    "routeTemplate": {"origin": "CNSZX", "ports": ["HKHKG", "SEGOT"], "destination": "SEGOT"},
    "lineItems": [
        {"lineItemId": "L1", "sku": "MCS-NVY-M", "color": "navy", "size": "M", "lineQuantity": 700},
        {"lineItemId": "L2", "sku": "MCS-NVY-L", "color": "navy", "size": "L", "lineQuantity": 500},
    ],
}


def _write(root: Path, tenant: str, system: str, entity: str, name: str, text: str) -> Path:
    folder = root / "landing" / tenant / system / entity
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _quarantine(con) -> dict[tuple[str, int], list[str]]:
    rows = run(con, "select source_file, source_row, failed_checks from audit.quarantine")
    return {(f.split("/")[-1], r): checks for f, r, checks in rows}


@pytest.fixture
def con(tmp_path):
    connection = connect(tmp_path)
    yield connection
    connection.close()


def test_purchase_orders_land_with_lines_and_every_defect_gets_its_reason(tmp_path, con):
    revised = dict(PO, revision=2, updatedAt="2026-11-02T09:00:00Z", quantity=1300)
    missing_id = dict(PO, poId=None, revision=3)
    negative_line = dict(PO, revision=4, lineItems=[dict(PO["lineItems"][0], lineQuantity=-5)])
    bad_time = dict(PO, revision=5, updatedAt="2026/11/05 10:00")
    bad_status = dict(PO, revision=6, poStatus="shipped", quantity="many")
    _write(
        tmp_path,
        "acme",
        "erp",
        "purchase_orders",
        "a.json",
        json.dumps([PO, PO, missing_id, negative_line]),
    )
    _write(
        tmp_path,
        "acme",
        "erp",
        "purchase_orders",
        "b.jsonl",
        "\n".join(
            [
                json.dumps(revised),
                "",
                "{not json",
                json.dumps(bad_time),
                json.dumps(bad_status),
                json.dumps(PO),
            ]
        )
        + "\n",
    )

    result = land_entity(con, purchase_orders, tmp_path / "landing")

    total = result.total
    assert (total.rows_read, total.rows_landed, total.rows_quarantined, total.rows_duplicate) == (
        9,
        2,
        5,
        2,
    )
    assert total.balanced
    assert _quarantine(con) == {
        ("a.json", 3): ["poId:not_nullable"],
        ("a.json", 4): ["lineItems[].lineQuantity:non_negative"],
        ("b.jsonl", 2): ["_record:valid_json"],
        ("b.jsonl", 3): ["updatedAt:is_timestamp"],
        ("b.jsonl", 4): ["poStatus:isin", "quantity:is_number"],
    }
    landed = run(
        con,
        'select "poId", revision, "updatedAt"::varchar, quantity, "routeTemplate_ports",'
        " _source_row from raw.erp__purchase_orders order by revision",
    )
    assert landed == [
        ("PO-2026-000001", 1, "2026-11-01 02:00:00", 1200.0, '["HKHKG","SEGOT"]', 1),
        ("PO-2026-000001", 2, "2026-11-02 09:00:00", 1300.0, '["HKHKG","SEGOT"]', 1),
    ]
    lines = run(
        con,
        'select revision, "lineItemId", "lineQuantity", _child_index '
        "from raw.erp__purchase_order_lines order by revision, _child_index",
    )
    assert lines == [
        (1, "L1", 700.0, 0),
        (1, "L2", 500.0, 1),
        (2, "L1", 700.0, 0),
        (2, "L2", 500.0, 1),
    ]
    # no child row of a quarantined parent
    orphans = run(
        con,
        "select count(*) from raw.erp__purchase_order_lines l anti join "
        "raw.erp__purchase_orders p on l._parent_record_hash = p._record_hash",
    )
    assert orphans == [(0,)]
    batches = run(
        con,
        "select source_file, rows_read, rows_landed, rows_quarantined, rows_duplicate"
        " from audit.batches order by 1",
    )
    assert batches == [
        ("acme/erp/purchase_orders/a.json", 4, 1, 2, 1),
        ("acme/erp/purchase_orders/b.jsonl", 5, 1, 3, 1),
    ]


def test_replay_and_rewrites_land_nothing_new(tmp_path, con):
    path = _write(tmp_path, "acme", "erp", "purchase_orders", "a.json", json.dumps([PO]))
    land_entity(con, purchase_orders, tmp_path / "landing")

    replay = land_entity(con, purchase_orders, tmp_path / "landing")
    assert replay.files_skipped == ["acme/erp/purchase_orders/a.json"]
    assert replay.total.rows_read == 0

    # the same record re-delivered in a rewritten file is an exact duplicate, not a new row
    path.write_text(json.dumps([PO, dict(PO, revision=2)], indent=2))
    again = land_entity(con, purchase_orders, tmp_path / "landing")
    assert (again.total.rows_read, again.total.rows_landed, again.total.rows_duplicate) == (2, 1, 1)
    assert run(con, "select count(*) from raw.erp__purchase_orders") == [(2,)]


def test_same_record_in_two_tenants_lands_for_each(tmp_path, con):
    for tenant in ("acme", "borealis"):
        _write(tmp_path, tenant, "erp", "purchase_orders", "a.json", json.dumps(PO))
    result = land_entity(con, purchase_orders, tmp_path / "landing")
    assert {t: c.rows_landed for t, c in result.per_tenant.items()} == {"acme": 1, "borealis": 1}


def test_files_in_progress_are_not_read(tmp_path, con):
    _write(tmp_path, "acme", "erp", "purchase_orders", "a.json.part", json.dumps(PO))
    _write(tmp_path, "acme", "erp", "purchase_orders", ".hidden.json", json.dumps(PO))
    assert land_entity(con, purchase_orders, tmp_path / "landing").files_ingested == []


def test_csv_with_bom_and_envelope_json_land_the_same_materials(tmp_path, con):
    record = {
        "material_id": "MAT-A-1234",
        "part_number": "A-1234",
        "part_name": "Door Panel",
        "standard_cost": "12.50",
        "currency": "USD",
        "is_active": "true",
        "safety_stock_quantity": "100",
    }
    _write(
        tmp_path,
        "acme",
        "erp",
        "materials",
        "m.json",
        json.dumps(
            {
                "materials": [
                    dict(record, standard_cost=12.5, is_active=True, safety_stock_quantity=100)
                ]
            }
        ),
    )
    header = ",".join(record) + "\r\n"
    _write(
        tmp_path,
        "borealis",
        "erp",
        "materials",
        "m.csv",
        "\ufeff"
        + header
        + ",".join(record.values())
        + "\r\n"
        + "MAT-B-1,B-1,Hinge,-3,USD,yes,\r\n",
    )
    result = land_entity(con, materials, tmp_path / "landing")
    assert result.total.rows_landed == 2
    assert _quarantine(con) == {
        ("m.csv", 2): ["is_active:is_boolean", "standard_cost:non_negative"]
    }
    rows = run(
        con,
        "select tenant_id, material_id, standard_cost, is_active, safety_stock_quantity "
        "from raw.erp__materials order by 1",
    )
    assert rows == [
        ("acme", "MAT-A-1234", 12.5, True, 100.0),
        ("borealis", "MAT-A-1234", 12.5, True, 100.0),
    ]


def test_mes_counts_reject_unknown_machines_and_stale_events_across_chunks(tmp_path, con):
    _write(
        tmp_path,
        "acme",
        "mes",
        "machines",
        "m.json",
        json.dumps(
            {
                "machines": [
                    {"machine_id": "M-203", "factory": "FAC-1", "ideal_cycle_time_seconds": 45}
                ]
            }
        ),
    )
    events = []
    for i in range(25):
        events.append(
            {
                "machine_id": "M-203",
                "work_order_id": "WO-ERP-452100",
                "timestamp": f"2026-11-20T10:00:{i:02d}Z",
                "units_produced": 1,
                "cumulative_units": i + 1,
                "quality_status": "pass",
            }
        )
    events[7]["machine_id"] = "M-999"
    events[11]["timestamp"] = "2022-11-20T10:00:00Z"
    events[19]["units_produced"] = -1
    events.append(events[3])  # exact duplicate in a later chunk
    _write(
        tmp_path,
        "acme",
        "mes",
        "production_counts",
        "c.jsonl",
        "\n".join(json.dumps(e) for e in events),
    )
    land_entity(con, machines, tmp_path / "landing")

    result = land_entity(con, production_counts, tmp_path / "landing", chunk_rows=10)

    total = result.total
    assert (total.rows_read, total.rows_landed, total.rows_quarantined, total.rows_duplicate) == (
        26,
        22,
        3,
        1,
    )
    assert _quarantine(con) == {
        ("c.jsonl", 8): ["machine_id:known_machine_id"],
        ("c.jsonl", 12): ["timestamp:not_stale"],
        ("c.jsonl", 20): ["units_produced:non_negative"],
    }


def test_a_failing_file_rolls_back_entirely(tmp_path, con, monkeypatch):
    _write(
        tmp_path,
        "acme",
        "erp",
        "purchase_orders",
        "a.jsonl",
        "\n".join(json.dumps(dict(PO, revision=i)) for i in range(30)),
    )
    calls = {"n": 0}
    from traceloom_pipelines.landing import loader

    original = loader.EntityLoader._insert_valid

    def explode_on_second_chunk(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return original(self, *args)

    monkeypatch.setattr(loader.EntityLoader, "_insert_valid", explode_on_second_chunk)
    with pytest.raises(OSError):
        land_entity(con, purchase_orders, tmp_path / "landing", chunk_rows=10)
    assert run(con, "select count(*) from raw.erp__purchase_orders") == [(0,)]
    assert run(con, "select count(*) from audit.batches") == [(0,)]

    monkeypatch.setattr(loader.EntityLoader, "_insert_valid", original)
    assert land_entity(con, purchase_orders, tmp_path / "landing").total.rows_landed == 30


# -- faults stay small (issue #12): confinement, tenant names, poison files --------------------


def _landed_revisions(con) -> list[tuple[str, int]]:
    return run(
        con, "select tenant_id, revision from raw.erp__purchase_orders order by tenant_id, revision"
    )


def test_links_are_never_followed_nor_quarantined(tmp_path, con, caplog):
    landing = tmp_path / "landing"
    _write(tmp_path, "acme", "erp", "purchase_orders", "a_good.json", json.dumps(dict(PO)))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "po.json").write_text(json.dumps(dict(PO, revision=2)))
    for name, revision in (("t", 3), ("s", 4), ("e", 5), ("sub", 6)):
        folder = outside / name / "erp" / "purchase_orders"
        folder.mkdir(parents=True)
        (folder / "x.json").write_text(json.dumps(dict(PO, revision=revision)))
    (outside / "e" / "erp" / "purchase_orders" / "x.json").rename(outside / "e" / "x.json")
    entity_folder = landing / "acme" / "erp" / "purchase_orders"
    (entity_folder / "b_linked.json").symlink_to(outside / "po.json")  # a linked file
    (entity_folder / "c_passwd.csv").symlink_to("/etc/passwd")  # a link out of the data folder
    (entity_folder / "d_sub").symlink_to(outside / "sub" / "erp" / "purchase_orders")  # sub-folder
    (landing / "linked").symlink_to(outside / "t")  # a linked tenant folder
    (landing / "borealis").mkdir()
    (landing / "borealis" / "erp").symlink_to(outside / "s" / "erp")  # a linked system folder
    (landing / "cygnus" / "erp").mkdir(parents=True)
    (landing / "cygnus" / "erp" / "purchase_orders").symlink_to(outside / "e")  # entity folder

    result = land_entity(con, purchase_orders, landing)

    assert result.files_ingested == ["acme/erp/purchase_orders/a_good.json"]
    assert {(s.relative_path, s.reason) for s in result.paths_skipped} == {
        ("acme/erp/purchase_orders/b_linked.json", "symlink"),
        ("acme/erp/purchase_orders/c_passwd.csv", "symlink"),
        ("acme/erp/purchase_orders/d_sub", "symlink"),
        ("borealis/erp", "symlink"),
        ("cygnus/erp/purchase_orders", "symlink"),
        ("linked", "symlink"),
    }
    assert _landed_revisions(con) == [("acme", 1)]
    assert run(con, "select count(*) from audit.quarantine") == [(0,)]
    assert run(con, "select source_file from audit.batches") == [
        ("acme/erp/purchase_orders/a_good.json",)
    ]
    # without a list to collect them, the reader reports what it skips as warnings
    with caplog.at_level("WARNING", logger="traceloom.landing"):
        listed = list_drop_files(landing, purchase_orders)
    assert [d.relative_path for d in listed] == ["acme/erp/purchase_orders/a_good.json"]
    assert "acme/erp/purchase_orders/c_passwd.csv (symlink)" in caplog.text


@pytest.mark.parametrize("name", ["acme", "platform", "t-1", "a.b_c", "A" * 100])
def test_valid_folder_names(name):
    assert is_folder_name(name)


@pytest.mark.parametrize(
    "name",
    ["acme corp", "o'hara", '"acme"', "...", ".acme", "-rf", "$(touch pwned)", "acmé", "ａｃｍｅ"]
    + ["acme\n", "", "a/b", "A" * 101],
)
def test_invalid_folder_names(name):
    assert not is_folder_name(name)


def test_tenant_folders_with_invalid_names_are_not_landed(tmp_path, con):
    bad = ["acme corp", "o'hara", '"quoted"', "...", "-rf", "$(touch pwned)", "tenantß"]
    for revision, tenant in enumerate(["acme", *bad], start=1):
        _write(
            tmp_path,
            tenant,
            "erp",
            "purchase_orders",
            "a.json",
            json.dumps(dict(PO, revision=revision)),
        )

    result = land_entity(con, purchase_orders, tmp_path / "landing")

    assert result.files_ingested == ["acme/erp/purchase_orders/a.json"]
    assert sorted((s.relative_path, s.reason) for s in result.paths_skipped) == sorted(
        (name, "invalid_tenant_name") for name in bad
    )
    assert _landed_revisions(con) == [("acme", 1)]
    assert run(con, "select distinct tenant_id from audit.batches") == [("acme",)]
    assert run(con, "select count(*) from audit.quarantine") == [(0,)]


# The revisions of the good files of the poison-file test: what lands, and all that lands.
GOOD_REVISIONS = [("acme", 1), ("acme", 2), ("acme", 3), ("acme", 7), ("borealis", 8)]


@pytest.mark.chaos
def test_poison_files_are_quarantined_whole_and_every_other_file_lands(tmp_path, con, chaos):
    def write(tenant: str, name: str, content: bytes) -> None:
        folder = tmp_path / "landing" / tenant / "erp" / "purchase_orders"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)

    def po(revision: int) -> str:
        return json.dumps(dict(PO, revision=revision))

    deep = "[" * 10_000 + "]" * 10_000
    write("acme", "a_good.json", f"[{po(1)}]".encode())
    write("acme", "b_deep.json", deep.encode())  # json.loads raises RecursionError
    write("acme", "c_good.jsonl", f"{po(2)}\n{po(3)}\n".encode())
    write("acme", "d_utf16.json", po(4).encode("utf-16"))  # with a byte order mark
    write("acme", "e_utf16le.jsonl", po(5).encode("utf-16-le"))  # without one
    # good records first (more than one chunk lands), then bytes that are not UTF-8: the
    # records already landed of this file are rolled back, the other files land again
    head = "\n".join(po(r) for r in range(100, 130)) + "\n"
    write("acme", "f_latin1.jsonl", head.encode() + '{"poId": "café"}\n'.encode("latin-1"))
    # a record whose child array is nested deeper than Python parses, next to a good record
    deep_line = po(6)[:-1] + ', "lineItems": [' + deep + "]}"
    write("acme", "g_deep_line.jsonl", f"{po(7)}\n{deep_line}\n".encode())
    write("borealis", "a_good.json", po(8).encode())

    result = land_entity(con, purchase_orders, tmp_path / "landing", chunk_rows=10)

    landed = Counter(_landed_revisions(con))
    chaos.record(
        "poison files (10,000-deep nesting, UTF-16, Latin-1) beside good ones",
        # a good record not landed, or a poison file neither landed nor quarantined
        lost=sum((Counter(GOOD_REVISIONS) - landed).values())
        + len(
            {"b_deep.json", "d_utf16.json", "e_utf16le.jsonl", "f_latin1.jsonl"}
            - {
                f.rsplit("/", 1)[-1]
                for (f,) in run(con, "select distinct source_file from audit.quarantine")
            }
        ),
        duplicated=sum((landed - Counter(GOOD_REVISIONS)).values()),
    )
    assert _landed_revisions(con) == GOOD_REVISIONS
    quarantined = run(
        con,
        "select source_file, source_row, failed_checks, reason, record from audit.quarantine "
        "order by source_file, source_row",
    )
    by_file = {
        f.rsplit("/", 1)[-1]: (row, checks, reason) for f, row, checks, reason, _ in quarantined
    }
    assert by_file.keys() == {
        "b_deep.json",
        "d_utf16.json",
        "e_utf16le.jsonl",
        "f_latin1.jsonl",
        "g_deep_line.jsonl",
    }
    assert by_file["b_deep.json"][:2] == (0, ["_file:unreadable"])
    assert "RecursionError" in by_file["b_deep.json"][2]
    assert by_file["d_utf16.json"][:2] == (0, ["_file:encoding"])
    assert "UTF-16 LE byte order mark" in by_file["d_utf16.json"][2]
    assert by_file["e_utf16le.jsonl"][:2] == (0, ["_file:encoding"])
    assert by_file["f_latin1.jsonl"][:2] == (0, ["_file:encoding"])
    assert "UnicodeDecodeError" in by_file["f_latin1.jsonl"][2]
    assert by_file["g_deep_line.jsonl"][:2] == (2, ["_record:nesting_depth"])
    # a whole-file row describes the file, never holds its content
    record = json.loads(next(r for f, row, *_, r in quarantined if f.endswith("b_deep.json")))
    assert record["_file"] == "acme/erp/purchase_orders/b_deep.json"
    assert record["file_bytes"] == 20_000

    batches = run(
        con,
        "select source_file, rows_read, rows_landed, rows_quarantined, rows_duplicate "
        "from audit.batches order by source_file",
    )
    prefix = "acme/erp/purchase_orders/"
    assert batches == [
        (prefix + "a_good.json", 1, 1, 0, 0),
        (prefix + "b_deep.json", 1, 0, 1, 0),
        (prefix + "c_good.jsonl", 2, 2, 0, 0),
        (prefix + "d_utf16.json", 1, 0, 1, 0),
        (prefix + "e_utf16le.jsonl", 1, 0, 1, 0),
        (prefix + "f_latin1.jsonl", 1, 0, 1, 0),
        (prefix + "g_deep_line.jsonl", 2, 1, 1, 0),
        ("borealis/erp/purchase_orders/a_good.json", 1, 1, 0, 0),
    ]
    assert all(read == landed + quarantined + dup for _, read, landed, quarantined, dup in batches)
    assert result.total.balanced
    assert result.total.reasons == {
        "_file:unreadable": 1,
        "_file:encoding": 3,
        "_record:nesting_depth": 1,
    }

    replay = land_entity(con, purchase_orders, tmp_path / "landing")
    assert replay.files_ingested == []
    assert len(replay.files_skipped) == len(batches)
    assert replay.total.rows_read == 0
    assert run(con, "select count(*) from audit.batches") == [(len(batches),)]
    assert run(con, "select count(*) from audit.quarantine") == [(len(quarantined),)]
    assert _landed_revisions(con) == GOOD_REVISIONS


def test_a_column_the_contract_gained_is_added_to_an_existing_raw_table(tmp_path, con):
    """A raw table created before its contract gained a field (mes/work_orders.PartDescription)
    gets the column on the next landing: older rows hold null, new rows the value."""
    from traceloom_pipelines.sources.mes.contract import work_orders

    record = {
        "JobNumber": "WO-1",
        "PartNumber": "P-1",
        "Quantity": 5,
        "Status": "Released",
        "MachineId": "M-1",
        "LastUpdated": "2025-11-18T14:00:00Z",
    }
    _write(
        tmp_path,
        "acme",
        "mes",
        "machines",
        "m.json",
        json.dumps(
            {"machines": [{"machine_id": "M-1", "factory": "F", "ideal_cycle_time_seconds": 30}]}
        ),
    )
    land_entity(con, machines, tmp_path / "landing")
    _write(tmp_path, "acme", "mes", "work_orders", "a.json", json.dumps([record]))
    land_entity(con, work_orders, tmp_path / "landing")
    run(con, 'alter table raw.mes__work_orders drop column "PartDescription"')
    newer = dict(record, JobNumber="WO-2", PartDescription="  Door  Panel ")
    _write(tmp_path, "acme", "mes", "work_orders", "b.json", json.dumps([newer]))
    land_entity(con, work_orders, tmp_path / "landing")
    rows = run(con, 'select "JobNumber", "PartDescription" from raw.mes__work_orders order by 1')
    assert rows == [("WO-1", None), ("WO-2", "  Door  Panel ")]


def test_a_quarantined_record_the_review_desk_retries_is_read_again_once(tmp_path, con):
    """Issue #13 §7: a record already quarantined is a duplicate when dropped again, unless the
    review desk sent it back ('retry' in audit.review_actions); quarantined again, its new row
    makes the next copy a duplicate again."""
    bad = json.dumps({"machine_id": "M-3", "ideal_cycle_time_seconds": 12})

    def drop_and_land(name: str):
        _write(tmp_path, "acme", "mes", "machines", name, bad + "\n")
        return land_entity(con, machines, tmp_path / "landing").total

    assert drop_and_land("a.jsonl").rows_quarantined == 1
    assert drop_and_land("b.jsonl").rows_duplicate == 1
    ((record_hash, quarantined_at),) = run(
        con, "select record_hash, quarantined_at from audit.quarantine"
    )
    run(
        con,
        "insert into audit.review_actions values ('a1', 'acme', 'quarantine', 'qkey', 'mes', "
        "'machines', ?, 'retry', 'ada', ?, ?, null, 'acme/mes/machines/c.jsonl')",
        [record_hash, quarantined_at, quarantined_at],
    )
    assert drop_and_land("c.jsonl").rows_quarantined == 1
    assert drop_and_land("d.jsonl").rows_duplicate == 1
    assert _quarantine(con) == {
        ("a.jsonl", 1): ["factory:not_nullable"],
        ("c.jsonl", 1): ["factory:not_nullable"],
    }
