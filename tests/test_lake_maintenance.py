"""Lake maintenance on a real embedded lake: small files merged, old snapshots expired,
unreferenced and orphaned files deleted, no row lost; time travel stops at the retention."""

import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.maintenance import GRACE_ENV, RETENTION_ENV, lake_maintenance
from traceloom_pipelines.resources import WarehouseResource


def _files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "lake" / "data").rglob("*") if p.is_file()]


def test_maintenance_merges_expires_and_deletes_without_losing_rows(tmp_path, monkeypatch):
    con = connect(tmp_path)
    con.execute("create table raw.small_drops (tenant_id varchar, n integer)")
    for n in range(30):  # one commit, one snapshot and one data file each
        con.execute("insert into raw.small_drops values ('t1', ?)", [n])
    con.execute("delete from raw.small_drops where n < 5")  # a delete file, and dead rows
    first_snapshot = con.execute("select min(snapshot_id) from lake.snapshots()").fetchone()[0]
    rows_before = con.execute("select * from raw.small_drops order by n").fetchall()
    con.close()
    orphan = tmp_path / "lake" / "data" / "orphan-from-a-killed-run.parquet"
    duckdb.sql(f"copy (select 1 as a) to '{orphan}' (format parquet)")
    files_before = len(_files(tmp_path))

    monkeypatch.setenv(RETENTION_ENV, "0")
    monkeypatch.setenv(GRACE_ENV, "0")
    result = dg.materialize(
        [lake_maintenance], resources={"warehouse": WarehouseResource(data_dir=str(tmp_path))}
    )
    assert result.success
    metadata = result.asset_materializations_for_node("lake__maintenance")[0].metadata
    assert metadata["data_files_before"].value >= 25  # 30 inserts, 5 rows deleted whole
    assert metadata["data_files_after"].value < metadata["data_files_before"].value
    assert metadata["snapshots_after"].value < metadata["snapshots_before"].value
    assert metadata["orphaned_files_deleted"].value == 1
    assert not orphan.exists()
    assert len(_files(tmp_path)) < files_before

    con = connect(tmp_path, read_only=True)
    try:
        assert con.execute("select * from raw.small_drops order by n").fetchall() == rows_before
    finally:
        con.close()
    with pytest.raises(duckdb.Error):  # expired: time travel before the retention is gone
        connect(tmp_path, snapshot=first_snapshot).execute(
            "select count(*) from raw.small_drops"
        ).fetchall()


def test_maintenance_keeps_snapshots_inside_the_retention(tmp_path, monkeypatch):
    con = connect(tmp_path)
    con.execute("create table raw.small_drops (n integer)")
    con.execute("insert into raw.small_drops values (1)")
    snapshot = con.execute("select max(snapshot_id) from lake.snapshots()").fetchone()[0]
    con.execute("insert into raw.small_drops values (2)")
    con.close()
    monkeypatch.delenv(RETENTION_ENV, raising=False)  # default: 7 days
    monkeypatch.setenv(GRACE_ENV, "0")
    assert dg.materialize(
        [lake_maintenance], resources={"warehouse": WarehouseResource(data_dir=str(tmp_path))}
    ).success
    old = connect(tmp_path, snapshot=snapshot)
    try:
        assert old.execute("select n from raw.small_drops").fetchall() == [(1,)]
    finally:
        old.close()
    assert os.path.isdir(tmp_path / "lake" / "data")
