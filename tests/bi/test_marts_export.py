"""Parquet export of marts: hive partitions per tenant, atomic publication, old versions pruned."""

import os
import subprocess
import sys

import dagster as dg
import duckdb
import pytest

from traceloom_pipelines import privacy
from traceloom_pipelines.bi import MARTS, MASKING, marts_parquet
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
        pii = "".join(f", {column} varchar" for column in MASKING.get(name, {}))
        run(con, f"create table {schema}.{name} (tenant_id varchar, value integer{pii})")
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
        run(con, f"insert into {schema}.{rebuilt} (tenant_id, value) values ('acme', 7)")
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


def test_pii_columns_are_hashed_or_redacted_in_every_exported_file(tmp_path):
    """What BI readers without the privileged role read holds no tagged value in clear: ids are
    the keyed pseudonyms (same id, same tenant: same pseudonym), names are null; the bytes of
    the Parquet files do not contain the raw values."""
    con = connect(tmp_path)
    run(con, "create schema if not exists marts")
    run(
        con,
        "create table marts.dim_people as select * from (values "
        "('acme', 'EMP-4711', 'Ada Lovelace', 'Plant North', 3), "
        "('acme', 'EMP-4712', 'Grace Hopper', 'Plant North', 5), "
        "('borealis', 'EMP-4711', 'Alan Turing', null, 8)) "
        "v(tenant_id, employee_id, full_name, location, skill_count)",
    )
    key = b"a-test-key-of-32-bytes-0123456789"
    masking = {"employee_id": "hash", "full_name": "redact", "location": "hash"}
    assert export_mart(con, "marts", "dim_people", tmp_path / "marts", masking, key) == 3
    with pytest.raises(ValueError, match="needs a key"):
        export_mart(con, "marts", "dim_people", tmp_path / "other", masking)
    con.close()
    files = list((tmp_path / "marts" / "dim_people").rglob("*.parquet"))
    for path in files:
        raw = path.read_bytes()
        for clear in (b"EMP-47", b"Ada", b"Grace", b"Alan", b"Plant North"):
            assert clear not in raw, (path, clear)
    rows = duckdb.sql(
        f"select tenant_id, employee_id, full_name, location, skill_count from read_parquet("
        f"'{tmp_path}/marts/dim_people/*/*.parquet', hive_partitioning = true) order by all"
    ).fetchall()
    p = privacy.pseudonym
    assert sorted(rows) == sorted(
        [
            ("acme", p(key, "acme", "EMP-4711"), None, p(key, "acme", "Plant North"), 3),
            ("acme", p(key, "acme", "EMP-4712"), None, p(key, "acme", "Plant North"), 5),
            ("borealis", p(key, "borealis", "EMP-4711"), None, None, 8),
        ]
    )
