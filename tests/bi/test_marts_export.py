"""Parquet export of marts: hive partitions per tenant, atomic publication, old versions pruned."""

import os
import subprocess
import sys

import dagster as dg
import duckdb
import pytest

from traceloom_pipelines.bi import MARTS, marts_parquet
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.marts_export import KEEP_VERSIONS, WRITING_PREFIX, export_mart
from traceloom_pipelines.resources import WarehouseResource


def _mart(con, rows: list[tuple[str, int]]) -> None:
    run(con, "create schema if not exists marts")
    run(con, "create or replace table marts.fct_demo (tenant_id varchar, value integer)")
    for tenant, value in rows:
        run(con, "insert into marts.fct_demo values (?, ?)", [tenant, value])


def _read(marts_dir) -> list[tuple]:
    return duckdb.sql(
        f"select tenant_id, sum(value)::int from read_parquet('{marts_dir}/fct_demo/**/*.parquet', "
        "hive_partitioning = true) group by 1 order by 1"
    ).fetchall()


def test_export_is_partitioned_by_tenant_and_republished_atomically(tmp_path):
    con = connect(tmp_path)
    marts_dir = tmp_path / "marts"
    _mart(con, [("acme", 1), ("acme", 2), ("borealis", 5)])
    assert export_mart(con, "marts", "fct_demo", marts_dir) == 3
    assert sorted(p.name for p in (marts_dir / "fct_demo").iterdir()) == [
        "tenant_id=acme",
        "tenant_id=borealis",
    ]
    assert _read(marts_dir) == [("acme", 3), ("borealis", 5)]

    first_version = (marts_dir / "fct_demo").resolve()
    for value in (10, 20, 30):
        _mart(con, [("acme", value)])
        export_mart(con, "marts", "fct_demo", marts_dir)
    con.close()

    assert (marts_dir / "fct_demo").is_symlink()
    assert _read(marts_dir) == [("acme", 30)]
    versions = [p for p in (marts_dir / ".versions" / "fct_demo").iterdir()]
    assert len(versions) == KEEP_VERSIONS
    assert not first_version.exists()
    assert not list(marts_dir.glob(".*.link"))  # no temporary link left behind


def test_an_empty_mart_is_published_as_an_empty_dataset(tmp_path):
    con = connect(tmp_path)
    _mart(con, [])
    assert export_mart(con, "marts", "fct_demo", tmp_path / "marts") == 0
    con.close()
    assert (tmp_path / "marts" / "fct_demo").is_dir()
    assert list((tmp_path / "marts" / "fct_demo").iterdir()) == []


@pytest.mark.chaos
def test_an_export_killed_midway_is_cleaned_up_by_the_next_one(tmp_path, chaos):
    """A half-written version whose writer died (kill -9 mid-export) is removed by the next
    export of the mart; one a live process is still writing is left alone."""
    con = connect(tmp_path)
    _mart(con, [("acme", 1)])
    marts_dir = tmp_path / "marts"
    versions = marts_dir / ".versions" / "fct_demo"
    versions.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    abandoned = versions / f"{WRITING_PREFIX}{dead.stdout.strip()}-0123abcd"
    (abandoned / "tenant_id=acme").mkdir(parents=True)
    (abandoned / "tenant_id=acme" / "data_0.parquet").write_bytes(b"half")
    in_progress = versions / f"{WRITING_PREFIX}{os.getpid()}-4567ef01"
    in_progress.mkdir()
    assert export_mart(con, "marts", "fct_demo", marts_dir) == 1
    con.close()
    published = _read(marts_dir)
    chaos.record(
        "an export killed midway (its writer dead), then the next export",
        lost=max(0, 1 - len(published)),
        duplicated=max(0, len(published) - 1),
        stale=int(abandoned.exists()),  # a half-written version left for a reader to find
    )
    assert not abandoned.exists()
    assert in_progress.exists()
    assert _read(marts_dir) == [("acme", 1)]


def test_the_export_asset_republishes_only_marts_materialized_since_the_last_export(tmp_path):
    """Issue #11: `bi/marts_parquet` after a run that rebuilt one mart republishes that mart and
    keeps every other published dataset as it was (Dagster's record of which mart events the
    last export read); the first export, and a mart whose dataset is missing, publish all."""
    con = connect(tmp_path)
    run(con, "create schema if not exists marts")
    for schema, name in MARTS:
        run(con, f"create table {schema}.{name} (tenant_id varchar, value integer)")
    con.close()
    resources = {"warehouse": WarehouseResource(data_dir=str(tmp_path))}
    marts_dir = tmp_path / "marts"
    with dg.instance_for_test() as instance:
        first = dg.materialize([marts_parquet], instance=instance, resources=resources)
        metadata = first.asset_materializations_for_node("bi__marts_parquet")[0].metadata
        assert metadata["marts"].value == len(MARTS)
        published = {name: (marts_dir / name).resolve() for _schema, name in MARTS}

        schema, rebuilt = MARTS[0]
        con = connect(tmp_path)
        run(con, f"insert into {schema}.{rebuilt} values ('acme', 7)")
        con.close()
        instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey([schema, rebuilt])))
        missing = MARTS[1][1]
        (marts_dir / missing).unlink()
        second = dg.materialize([marts_parquet], instance=instance, resources=resources)
    metadata = second.asset_materializations_for_node("bi__marts_parquet")[0].metadata
    assert metadata["marts"].value == 2 and metadata["marts_unchanged"].value == len(MARTS) - 2
    assert (marts_dir / rebuilt).resolve() != published[rebuilt]
    assert (marts_dir / missing).is_dir()
    assert all((marts_dir / name).resolve() == published[name] for _s, name in MARTS[2:])
    assert duckdb.sql(
        f"select tenant_id, value from read_parquet('{marts_dir}/{rebuilt}/**/*.parquet', "
        "hive_partitioning = true)"
    ).fetchall() == [("acme", 7)]
