"""Issue #12 §3–§4, what landing does not read stays on record: skipped paths and schema drift.

Links and tenant folders whose name is not a tenant id are recorded once in
``audit.skipped_paths`` and fail the asset's ``no_paths_skipped`` check (error) in every run that
skips them; CSV header columns the contract does not read are recorded once per file and column
in ``audit.schema_drift`` with their first value, and the ``no_schema_drift`` check warns. Every
test lands into a real lake (tmp dir); one materializes a single ingestion asset (no job, no dbt)
to show the checks are declared and evaluated.
"""

import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from traceloom_pipelines import lake
from traceloom_pipelines.landing.assets import (
    BALANCE_CHECK,
    SCHEMA_DRIFT_CHECK,
    SKIPPED_PATHS_CHECK,
    build_ingestion_asset,
    raw_asset_key,
    schema_drift_check,
    skipped_paths_check,
)
from traceloom_pipelines.landing.loader import INVALID_TENANT, land_entity
from traceloom_pipelines.landing.warehouse import AUDIT_TABLES, connect, run
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.sources.erp.contract import materials

MATERIAL = {
    "material_id": "MAT-1",
    "part_number": "P-1",
    "part_name": "Door Panel",
    "standard_cost": "12.50",
    "currency": "USD",
    "is_active": "true",
    "safety_stock_quantity": "100",
}
KEY = raw_asset_key("erp", "materials")
# A tenant folder whose name is not UTF-8 (the byte 0xFF): Python keeps it as a lone surrogate,
# which DuckDB cannot store; it is recorded with the byte escaped.
NOT_UTF8_TENANT = os.fsdecode(b"bad\xff")


@pytest.fixture
def con(tmp_path):
    connection = connect(tmp_path)
    yield connection
    connection.close()


def _csv(rows: list[dict[str, str]]) -> str:
    """CSV text: the first row's keys as header, one line per row (blank when a key is absent)."""
    header = list(rows[0])
    lines = [",".join(header)] + [",".join(row.get(c, "") for c in header) for row in rows]
    return "\n".join(lines) + "\n"


def _drop(root: Path, tenant: str, name: str, text: str) -> Path:
    folder = root / "landing" / tenant / "erp" / "materials"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _skipped_rows(con) -> list[tuple]:
    return run(
        con,
        "select tenant_id, folder_name, source_system, entity, path, reason "
        "from audit.skipped_paths order by path",
    )


# -- 1. skipped paths: an audit row each, once, and a failing check ----------------------------


def test_skipped_paths_are_recorded_once_and_fail_the_check(tmp_path, con):
    assert "audit.skipped_paths" in AUDIT_TABLES
    landing = tmp_path / "landing"
    good = _drop(tmp_path, "acme", "a.csv", _csv([MATERIAL]))
    outside = tmp_path / "outside.csv"
    outside.write_text(_csv([dict(MATERIAL, material_id="MAT-X")]))
    (good.parent / "b_link.csv").symlink_to(outside)
    (good.parent / os.fsdecode(b"c_\xff.csv")).write_text(_csv([dict(MATERIAL, material_id="Y")]))
    _drop(tmp_path, "acme corp", "a.csv", _csv([dict(MATERIAL, material_id="MAT-2")]))
    _drop(tmp_path, NOT_UTF8_TENANT, "a.csv", _csv([dict(MATERIAL, material_id="MAT-3")]))
    before = datetime.now(UTC).replace(tzinfo=None)

    result = land_entity(con, materials, landing, run_id="run-1")

    assert result.files_ingested == ["acme/erp/materials/a.csv"]
    assert run(con, "select tenant_id, material_id from raw.erp__materials") == [("acme", "MAT-1")]
    expected = [  # ordered by path
        (INVALID_TENANT, "acme corp", "erp", "materials", "acme corp", "invalid_tenant_name"),
        ("acme", "acme", "erp", "materials", "acme/erp/materials/b_link.csv", "symlink"),
        ("acme", "acme", "erp", "materials", "acme/erp/materials/c_\\xff.csv", "name_not_utf8"),
        (INVALID_TENANT, "bad\\xff", "erp", "materials", "bad\\xff", "invalid_tenant_name"),
    ]
    assert _skipped_rows(con) == expected
    seen = run(con, "select distinct first_seen_at, run_id from audit.skipped_paths")
    assert len(seen) == 1 and seen[0][1] == "run-1"
    assert before <= seen[0][0] <= datetime.now(UTC).replace(tzinfo=None)

    check = skipped_paths_check(KEY, result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["paths_skipped"].value == 4
    table = check.metadata["paths"].value
    assert "| acme/erp/materials/b_link.csv | symlink |" in table
    assert "| acme corp | invalid_tenant_name |" in table

    # a rerun skips the same paths: the check fails again, no second row, no lake commit
    snapshot = lake.current_snapshot(con)
    again = land_entity(con, materials, landing, run_id="run-2")
    assert len(again.paths_skipped) == 4
    assert skipped_paths_check(KEY, again).passed is False
    assert _skipped_rows(con) == expected
    assert run(con, "select distinct run_id from audit.skipped_paths") == [("run-1",)]
    assert lake.current_snapshot(con) == snapshot

    # once the link is gone, that path is no longer skipped; its row stays as history
    (good.parent / "b_link.csv").unlink()
    after = land_entity(con, materials, landing)
    assert sorted(p.relative_path for p in after.paths_skipped) == [
        "acme corp",
        "acme/erp/materials/c_\\xff.csv",
        "bad\\xff",
    ]
    assert _skipped_rows(con) == expected


def test_the_skipped_paths_check_passes_when_nothing_was_skipped(tmp_path, con):
    _drop(tmp_path, "acme", "a.csv", _csv([MATERIAL]))
    result = land_entity(con, materials, tmp_path / "landing")
    assert skipped_paths_check(KEY, result).passed
    assert run(con, "select count(*) from audit.skipped_paths") == [(0,)]


# -- 2. schema drift: unknown CSV columns with their first value, once, and a warning ---------


def test_unknown_csv_columns_are_recorded_with_their_first_value_once(tmp_path, con):
    rows = [
        dict(MATERIAL, colour_code="", notes=""),
        dict(MATERIAL, material_id="MAT-2", colour_code="NVY", notes=""),
        dict(MATERIAL, material_id="MAT-3", colour_code="RED", notes=" "),
    ]
    path = _drop(tmp_path, "acme", "a.csv", _csv(rows))
    _drop(tmp_path, "acme", "b.csv", _csv([MATERIAL]))  # no drift

    result = land_entity(con, materials, tmp_path / "landing", run_id="run-1")

    assert result.unknown_columns == {"acme/erp/materials/a.csv": ("colour_code", "notes")}
    (batch_id,) = run(
        con, "select batch_id from audit.batches where source_file = 'acme/erp/materials/a.csv'"
    )[0]
    drift = "select * exclude (recorded_at) from audit.schema_drift order by field"
    expected = [
        ("acme", "erp", "materials", "acme/erp/materials/a.csv", batch_id, "colour_code", "NVY", 2)
        + ("run-1",),
        ("acme", "erp", "materials", "acme/erp/materials/a.csv", batch_id, "notes", None, None)
        + ("run-1",),
    ]
    assert run(con, drift) == expected
    check = schema_drift_check(KEY, result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert "| acme/erp/materials/a.csv | colour_code, notes |" in (
        check.metadata["unknown_columns"].value
    )

    # replay: the file is not read again, nothing is added, the check has nothing to say
    replay = land_entity(con, materials, tmp_path / "landing", run_id="run-2")
    assert replay.files_ingested == []
    assert run(con, drift) == expected
    assert schema_drift_check(KEY, replay).passed

    # the file changes (one more row) and is read again: no second row for the same columns
    path.write_text(_csv([*rows, dict(MATERIAL, material_id="MAT-4", colour_code="GRN")]))
    changed = land_entity(con, materials, tmp_path / "landing", run_id="run-3")
    assert changed.files_ingested == ["acme/erp/materials/a.csv"]
    assert changed.total.rows_landed == 1
    assert schema_drift_check(KEY, changed).passed is False  # this batch had drift too
    assert run(con, drift) == expected


# -- both checks on a materialized ingestion asset (one asset, no job, no dbt) -----------------


def test_the_ingestion_asset_fails_its_skipped_paths_check_and_warns_on_drift(tmp_path):
    good = _drop(tmp_path, "acme", "a.csv", _csv([dict(MATERIAL, colour_code="NVY")]))
    (good.parent / "b_link.csv").symlink_to("/etc/passwd")

    result = dg.materialize(
        [build_ingestion_asset(materials)],
        resources={"warehouse": WarehouseResource(data_dir=str(tmp_path))},
        raise_on_error=False,
    )

    assert result.success  # not blocking: what could land has landed
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    skipped = checks[SKIPPED_PATHS_CHECK]
    assert (skipped.passed, skipped.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert "acme/erp/materials/b_link.csv" in skipped.metadata["paths"].value
    drift = checks[SCHEMA_DRIFT_CHECK]
    assert (drift.passed, drift.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert checks[BALANCE_CHECK].passed
    con = connect(tmp_path, read_only=True)
    try:
        assert run(con, "select path, reason from audit.skipped_paths") == [
            ("acme/erp/materials/b_link.csv", "symlink")
        ]
        assert run(con, "select field, first_value from audit.schema_drift") == [
            ("colour_code", "NVY")
        ]
        assert run(con, "select material_id from raw.erp__materials") == [("MAT-1",)]
    finally:
        con.close()
