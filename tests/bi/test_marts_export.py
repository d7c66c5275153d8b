"""Parquet export of marts: hive partitions per tenant, atomic publication, old versions pruned."""

import os
import subprocess
import sys

import duckdb

from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.marts_export import KEEP_VERSIONS, WRITING_PREFIX, export_mart


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


def test_an_export_killed_midway_is_cleaned_up_by_the_next_one(tmp_path):
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
    assert not abandoned.exists()
    assert in_progress.exists()
    assert _read(marts_dir) == [("acme", 1)]
