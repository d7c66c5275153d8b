"""The landing machinery on real DuckDB files: counts, quarantine reasons, children, replay."""

import json
from pathlib import Path

import pytest

from traceloom_pipelines.landing.loader import land_entity
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
    connection = connect(tmp_path / "warehouse.duckdb")
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
