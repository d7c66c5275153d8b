"""The demo world generator writes real files whose answer key matches the landing contract.

A tiny world (scale 0.002) is generated into ``tmp_path``; the tests read every file the way
docs/landing_contract.md describes (sorted files, source rows, md5 record hash, envelopes), validate
the records with the pandera contracts (fields by JSON path via polars, blank → null, lazy
validation, child arrays, known machine ids) and compare the outcome with the answer key.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pytest

from traceloom_pipelines.demo import generate_world
from traceloom_pipelines.resources import PROJECT_ROOT
from traceloom_pipelines.sources.certifications import contract as certifications
from traceloom_pipelines.sources.edi import contract as edi
from traceloom_pipelines.sources.erp import contract as erp
from traceloom_pipelines.sources.factory import contract as factory
from traceloom_pipelines.sources.finance import contract as finance
from traceloom_pipelines.sources.hr import contract as hr
from traceloom_pipelines.sources.iot import contract as iot
from traceloom_pipelines.sources.logistics import contract as logistics
from traceloom_pipelines.sources.mes import contract as mes
from traceloom_pipelines.sources.wms import contract as wms

SCALE = 0.002
TENANTS = ("acme-apparel", "borealis-appliances")
ENTITIES = {
    f"{e.system}/{e.entity}": e
    for module in (mes, erp, factory, hr, wms, logistics, certifications, finance, iot, edi)
    for e in module.ENTITIES
}
DEFECT_CLASSES = {
    "missing_id",
    "negative_quantity",
    "unparseable_timestamp",
    "stale_timestamp",
    "unknown_machine_id",
    "unknown_status",
    "malformed_json",
    "non_numeric_value",
    "unknown_sensor_type",
    "wrong_unit",
    "unknown_currency",
    "iea_control_number_mismatch",  # EDI: an envelope defect, its transactions land
    "missing_po_number",  # EDI: a broken 850, quarantined whole
}
DUPLICATED = {
    "purchase_orders",
    "work_orders",
    "production_counts",
    "attendance",
    "sensor_readings",
}
MES_STATUS = {
    "Released": "released",
    "InProgress": "in_progress",
    "OnHold": "on_hold",
    "Completed": "completed",
}


@pytest.fixture(scope="module")
def as_of() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory, as_of) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("world_a")
    key = generate_world(root / "landing", root / "key.json", seed=7, scale=SCALE, as_of=as_of)
    return root, key


def _file_hashes(landing: Path) -> dict[str, str]:
    return {
        p.relative_to(landing).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(landing.rglob("*"))
        if p.is_file()
    }


# --- a reference reading of the landing contract -------------------------------------------


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _records(path: Path, entity) -> list[str]:
    """Record texts of one drop file in source-row order (docs/landing_contract.md); an entity
    with a reader of its own (DCSA pages: carrier spellings read as DCSA's) is read with it."""
    if entity.reader is not None:
        return [text for _, text in entity.reader(path)]
    envelope = entity.envelope

    def unwrap(payload: object) -> list[str]:
        if envelope and isinstance(payload, dict) and isinstance(payload.get(envelope), list):
            return [_dumps(r) for r in payload[envelope]]
        return [_dumps(payload)]

    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".csv":
        return [_dumps(row) for row in csv.DictReader(text.splitlines())]
    if path.suffix == ".jsonl":
        out = []
        for line in (raw.strip() for raw in text.splitlines()):
            if not line:
                continue
            try:
                out.extend(unwrap(json.loads(line)) if envelope else [line])
            except json.JSONDecodeError:
                out.append(line)
        return out
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return [text]
    return [r for p in (document if isinstance(document, list) else [document]) for r in unwrap(p)]


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _extract(texts: list[str], schema: pa.DataFrameSchema) -> pl.DataFrame:
    frame = pl.DataFrame({"_record": texts}, schema={"_record": pl.String})
    return frame.select(
        pl.col("_record")
        .str.json_path_match(column.metadata["path"])
        .str.strip_chars()
        .replace("", None)
        .alias(name)
        for name, column in schema.columns.items()
    )


def _failures(frame: pl.DataFrame, schema: pa.DataFrameSchema) -> dict[int, set[str]]:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        out: dict[int, set[str]] = {}
        for index, column, check in errors.failure_cases.select(
            "index", "column", "check"
        ).iter_rows():
            out.setdefault(int(index), set()).add(f"{column}:{check.split('(')[0]}")
        return out
    return {}


def _land(landing: Path) -> dict:
    """Simulated landing: per ``tenant/system/entity`` the landed records, quarantine entries,
    duplicate entries and counts."""
    result: dict = {}
    for tenant in TENANTS:
        registry: set[str] = set()
        for name, entity in ENTITIES.items():  # mes/machines first: the registry lands first
            folder = landing / tenant / name
            files = sorted(p for p in folder.rglob("*") if p.suffix in entity.file_suffixes)
            seen: dict[str, tuple[str, int]] = {}
            rows, quarantine, duplicates = [], [], []
            for path in files:
                rel = path.relative_to(landing).as_posix()
                for row, text in enumerate(_records(path, entity), start=1):
                    ok = _is_json(text)
                    digest = hashlib.md5(
                        (_dumps(json.loads(text)) if ok else text).encode()
                    ).hexdigest()
                    if digest in seen:
                        duplicates.append((rel, row, seen[digest]))
                        continue
                    seen[digest] = (rel, row)
                    if not ok:
                        quarantine.append((rel, row, ("_record:valid_json",)))
                    else:
                        rows.append((rel, row, text))
            failed = _failures(_extract([r[2] for r in rows], entity.schema), entity.schema)
            for child in entity.children:
                parents, elements = [], []
                for position, (_, _, text) in enumerate(rows):
                    node = json.loads(text)
                    for part in child.array_key.split("."):
                        node = node.get(part) if isinstance(node, dict) else None
                    for element in node or []:
                        parents.append(position)
                        elements.append(_dumps(element))
                child_failed = _failures(_extract(elements, child.schema), child.schema)
                for index, checks in child_failed.items():
                    failed.setdefault(parents[index], set()).update(
                        f"{child.array_key}[].{c}" for c in checks
                    )
            for ref in entity.reference_checks:
                values = _extract([r[2] for r in rows], entity.schema)[ref.column]
                for position, value in enumerate(values):
                    if value is not None and value not in registry:
                        failed.setdefault(position, set()).add(f"{ref.column}:known_{ref.name}")
            landed = []
            for position, (rel, row, text) in enumerate(rows):
                if position in failed:
                    quarantine.append((rel, row, tuple(sorted(failed[position]))))
                else:
                    landed.append(json.loads(text))
            if name == "mes/machines":
                registry = {r["machine_id"] for r in landed}
            if files:
                result[f"{tenant}/{name}"] = {
                    "landed": landed,
                    "quarantine": sorted(quarantine),
                    "duplicates": sorted(duplicates),
                    "rows_read": len(rows)
                    + len(duplicates)
                    + sum(1 for q in quarantine if q[2] == ("_record:valid_json",)),
                }
    return result


@pytest.fixture(scope="module")
def landed(world) -> dict:
    root, _ = world
    return _land(root / "landing")


# --- tests ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(world, tmp_path, as_of):
    root, key = world
    again = generate_world(
        tmp_path / "landing", tmp_path / "key.json", seed=7, scale=SCALE, as_of=as_of
    )
    assert _file_hashes(tmp_path / "landing") == _file_hashes(root / "landing")
    assert (tmp_path / "key.json").read_bytes() == (root / "key.json").read_bytes()
    assert again == key


def test_different_seed_gives_a_different_world(world, tmp_path, as_of):
    root, _ = world
    generate_world(tmp_path / "landing", tmp_path / "key.json", seed=8, scale=SCALE, as_of=as_of)
    ours, theirs = _file_hashes(root / "landing"), _file_hashes(tmp_path / "landing")
    differing = [p for p in ours if theirs.get(p) != ours[p]]
    assert len(differing) > len(ours) // 2


def test_key_is_written_as_sorted_json(world):
    root, key = world
    text = (root / "key.json").read_text()
    assert json.loads(text) == key
    assert text == json.dumps(key, sort_keys=True, indent=1) + "\n"
    assert key["as_of"].endswith("T00:00:00Z") and key["tenants"] == list(TENANTS)


def test_every_defect_class_occurs_for_every_tenant(world):
    _, key = world
    for tenant in TENANTS:
        classes = {q["defect"] for q in key["quarantine"] if q["tenant_id"] == tenant}
        assert classes == DEFECT_CLASSES
        duplicated = {d["entity"] for d in key["duplicates"] if d["tenant_id"] == tenant}
        assert duplicated == DUPLICATED
        assert any(o["tenant_id"] == tenant for o in key["out_of_order_revisions"])
        assert key["status_mappings"][tenant]["Producing"] >= 1
        assert key["status_mappings"][tenant]["Down"] >= 1
        kinds = Counter(
            r["discrepancy_type"] for r in key["reconciliation"] if r["tenant_id"] == tenant
        )
        assert set(kinds) == {
            "missing_in_mes",
            "missing_in_erp",
            "status_conflict",
            "quantity_mismatch",
            "description_mismatch",
        }
        assert any(d["tenant_id"] == tenant for d in key["description_whitespace_only"])


def test_key_counts_are_internally_consistent(world):
    _, key = world
    quarantined = Counter(
        f"{q['tenant_id']}/{q['system']}/{q['entity']}" for q in key["quarantine"]
    )
    duplicated = Counter(f"{d['tenant_id']}/{d['system']}/{d['entity']}" for d in key["duplicates"])
    assert set(quarantined) | set(duplicated) <= set(key["entities"])
    for name, counts in key["entities"].items():
        assert counts["rows_read"] == (
            counts["rows_landed"] + counts["rows_quarantined"] + counts["rows_duplicate"]
        )
        assert counts["rows_quarantined"] == quarantined[name]
        assert counts["rows_duplicate"] == duplicated[name]
        assert counts["rows_landed"] > 0
    for dup in key["duplicates"]:
        first = dup["duplicate_of"]
        assert (first["source_file"], first["source_row"]) < (dup["source_file"], dup["source_row"])


def test_every_written_record_parses(world):
    root, key = world
    landing = root / "landing"
    malformed = {
        (q["source_file"], q["source_row"])
        for q in key["quarantine"]
        if q["failed_checks"] == ["_record:valid_json"]
    }
    found = set()
    for path in sorted(landing.rglob("*")):
        rel = path.relative_to(landing).as_posix()
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            for row, line in enumerate(path.read_text().splitlines(), start=1):
                if (rel, row) in malformed:
                    found.add((rel, row))
                    assert not _is_json(line)
                else:
                    json.loads(line)
        elif path.suffix == ".csv":
            assert list(csv.DictReader(path.read_text().splitlines()))
    assert found == malformed


def test_quarantine_and_duplicates_match_the_contracts(world, landed):
    _, key = world
    for name, counts in key["entities"].items():
        sim = landed[name]
        assert counts["rows_read"] == sim["rows_read"], name
        assert counts["rows_landed"] == len(sim["landed"]), name
    expected_q = sorted(
        (q["source_file"], q["source_row"], tuple(q["failed_checks"])) for q in key["quarantine"]
    )
    actual_q = sorted(q for sim in landed.values() for q in sim["quarantine"])
    assert actual_q == expected_q
    expected_d = sorted(
        (
            d["source_file"],
            d["source_row"],
            (d["duplicate_of"]["source_file"], d["duplicate_of"]["source_row"]),
        )
        for d in key["duplicates"]
    )
    actual_d = sorted(d for sim in landed.values() for d in sim["duplicates"])
    assert actual_d == expected_d


def _latest(records: list[dict], id_of, ts_of) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for record in records:
        rid = id_of(record)
        if rid not in latest or ts_of(record) > ts_of(latest[rid]):
            latest[rid] = record
    return latest


def _reconcile(erp_events: list[dict], mes_jobs: list[dict]) -> dict[str, str]:
    erp_latest = _latest(
        erp_events, lambda r: r["work_order"]["erp_work_order_id"], lambda r: r["timestamp"]
    )
    mes_latest = _latest(mes_jobs, lambda r: r["JobNumber"], lambda r: r["LastUpdated"])
    out = {}
    for wo_id in sorted(set(erp_latest) | set(mes_latest)):
        e, m = erp_latest.get(wo_id), mes_latest.get(wo_id)
        if m is None:
            if e["work_order"]["status"] != "cancelled":
                out[wo_id] = "missing_in_mes"
            continue
        if e is None:
            out[wo_id] = "missing_in_erp"
            continue
        erp_status, mes_status = e["work_order"]["status"], MES_STATUS[m["Status"]]
        if (erp_status in ("completed", "cancelled") and mes_status != erp_status) or (
            mes_status == "completed" and erp_status != "completed"
        ):
            out[wo_id] = "status_conflict"
        elif e["work_order"]["quantity_ordered"] != m["Quantity"]:
            out[wo_id] = "quantity_mismatch"
        else:
            # whitespace runs as one space, trimmed, case kept (dbt macro normalized_text)
            erp_text = " ".join((e["work_order"].get("product_name") or "").split())
            mes_text = " ".join((m.get("PartDescription") or "").split())
            if erp_text and mes_text and erp_text != mes_text:
                out[wo_id] = "description_mismatch"
    return out


def test_expected_counts_reconciliation_and_revisions(world, landed, as_of):
    _, key = world
    for tenant in TENANTS:
        expected = key["expected"][tenant]
        got = {
            name.split("/", 1)[1]: sim["landed"]
            for name, sim in landed.items()
            if name.startswith(tenant + "/")
        }
        pos = got["erp/purchase_orders"]
        latest_po = _latest(pos, lambda r: r["poId"], lambda r: r["updatedAt"])
        assert expected["purchase_orders"] == len(latest_po)
        assert expected["suppliers"] == len({p["supplier"] for p in latest_po.values()})
        assert expected["factories"] == len({p["factory"] for p in latest_po.values()})
        assert expected["purchase_order_lines"] == sum(
            len(p["lineItems"]) for p in latest_po.values()
        )
        erp_events, mes_jobs = got["erp/work_orders"], got["mes/work_orders"]
        assert expected["work_orders_erp"] == len(
            {e["work_order"]["erp_work_order_id"] for e in erp_events}
        )
        assert expected["work_orders_mes"] == len({j["JobNumber"] for j in mes_jobs})
        counts = got["mes/production_counts"]
        assert expected["production_count_units"] == sum(c["units_produced"] for c in counts)
        assert expected["production_count_events"] == len(counts)
        for name, entity in (
            ("machines", "mes/machines"),
            ("materials", "erp/materials"),
            ("employees", "hr/employees"),
            ("shift_schedules", "hr/shift_schedules"),
            ("attendance_events", "hr/attendance"),
            ("stock_levels", "wms/stock_levels"),
            ("machine_status_samples", "mes/machine_status"),
            ("quality_inspections", "mes/quality_inspections"),
            ("downtime_events", "mes/downtime_events"),
            ("production_milestones", "factory/production_milestones"),
        ):
            assert expected[name] == len(got[entity]), name
        statuses = Counter(s["CurrentStatus"] for s in got["mes/machine_status"])
        assert key["status_mappings"][tenant] == {
            "Producing": statuses["Producing"],
            "Down": statuses["Down"],
        }
        recon = sorted((wo, kind) for wo, kind in _reconcile(erp_events, mes_jobs).items())
        assert recon == sorted(
            (r["erp_work_order_id"], r["discrepancy_type"])
            for r in key["reconciliation"]
            if r["tenant_id"] == tenant
        )
        # out-of-order: the last landed revision of the PO is not its latest one
        last_landed = {p["poId"]: p for p in pos}  # records are in landing order
        ooo = sorted(
            (p, r["revision"], r["poStatus"], r["quantity"])
            for p, r in latest_po.items()
            if last_landed[p]["revision"] != r["revision"]
        )
        assert ooo == sorted(
            (o["po_id"], o["latest_revision"], o["latest_status"], o["latest_quantity"])
            for o in key["out_of_order_revisions"]
            if o["tenant_id"] == tenant
        )
        # MES timestamps are recent: inside the 30 days before as_of
        stamps = sorted(c["timestamp"] for c in counts)
        assert stamps[0] >= (as_of - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
        assert stamps[-1] < as_of.strftime("%Y-%m-%dT%H:%M:%S")


def test_clean_world_is_consistent(landed):
    for tenant in TENANTS:
        got = {
            name.split("/", 1)[1]: sim["landed"]
            for name, sim in landed.items()
            if name.startswith(tenant + "/")
        }
        units: Counter = Counter()
        for count in got["mes/production_counts"]:
            units[count["work_order_id"]] += count["units_produced"]
        jobs = _latest(got["mes/work_orders"], lambda r: r["JobNumber"], lambda r: r["LastUpdated"])
        assert jobs and all(j["QuantityProduced"] == units[wo] for wo, j in jobs.items())
        registry = {m["machine_id"] for m in got["mes/machines"]}
        assert {c["machine_id"] for c in got["mes/production_counts"]} <= registry
        for stock in got["wms/stock_levels"]:
            assert stock["on_hand_quantity"] == sum(b["quantity"] for b in stock["batch_details"])
            assert stock["available_quantity"] == (
                stock["on_hand_quantity"] - stock["allocated_quantity"]
            )
        for po in got["erp/purchase_orders"]:
            assert po["quantity"] == sum(line["lineQuantity"] for line in po["lineItems"])
        stages = Counter(m["poId"] for m in got["factory/production_milestones"])
        assert set(stages.values()) == {5}


def test_sensor_readings_stay_a_small_share_of_every_world(world, tmp_path, as_of):
    _, key = world
    tiny = generate_world(
        tmp_path / "landing", tmp_path / "key.json", seed=7, scale=0.001, as_of=as_of
    )
    for k in (key, tiny):
        rows = sum(c["rows_read"] for c in k["entities"].values())
        sensor_rows = sum(c["rows_read"] for n, c in k["entities"].items() if "/iot/" in n)
        assert 0 < sensor_rows <= 0.03 * (rows - sensor_rows), (k["scale"], sensor_rows, rows)


def test_sensor_excursions_and_blips_follow_the_thresholds_seed(world):
    from traceloom_pipelines.demo.sensors import LIMITS, SEVERITY

    _, key = world
    seed = PROJECT_ROOT / "dbt_project" / "seeds" / "sensor_thresholds.csv"
    rows = {(r["sensor_type"], r["location_kind"]): r for r in csv.DictReader(seed.open())}
    for (kind, where), (unit, high, seconds) in LIMITS.items():
        row = rows[(kind, where)]
        assert (row["unit"], float(row["max_value"]), int(row["min_duration_seconds"])) == (
            unit,
            high,
            seconds,
        )
        assert row["severity"] == SEVERITY[(kind, where)]
    for tenant in TENANTS:
        mine = [e for e in key["sensor_excursions"] if e["tenant_id"] == tenant]
        assert {e["location_kind"] for e in mine} >= {"machine", "storage_area"}
        assert any(b["tenant_id"] == tenant for b in key["sensor_blips"])
        for e in mine:
            minimum = LIMITS[(e["sensor_type"], e["location_kind"])][2]
            assert (
                e["duration_seconds"] >= minimum
                and e["peak_value"] > LIMITS[(e["sensor_type"], e["location_kind"])][1]
            )
            assert (e["po_id"] is None) == (e["location_kind"] == "storage_area")
    for blip in key["sensor_blips"]:
        assert blip["duration_seconds"] < LIMITS[(blip["sensor_type"], blip["location_kind"])][2]
    flagged = {
        (e["tenant_id"], e["po_id"])
        for e in key["po_delay_risk"]
        if "sensor_excursion" in e["signals"]
    }
    assert flagged and flagged <= {(e["tenant_id"], e["po_id"]) for e in key["sensor_excursions"]}
